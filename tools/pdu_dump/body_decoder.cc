#include "tools/pdu_dump/body_decoder.h"

#include <array>

#include "IM.Login.pb.h"
#include "IM.Other.pb.h"
#include "IM.Server.pb.h"
#include "common/protocol.h"

namespace ttlogin::tools::pdu_dump {
namespace {

// Naming the generated types here links their descriptors in; a lookup in the generated pool by
// name alone would find nothing once the static library's unused objects are dropped.
const google::protobuf::Message* PrototypeByName(std::string_view full_name) {
  static const std::array<const google::protobuf::Message*, 5> kPrototypes = {
      &IM::Login::IMMsgServReq::default_instance(),
      &IM::Login::IMMsgServRsp::default_instance(),
      &IM::Other::IMHeartBeat::default_instance(),
      &IM::Server::IMMsgServInfo::default_instance(),
      &IM::Server::IMUserCntUpdate::default_instance(),
  };
  for (const google::protobuf::Message* p : kPrototypes) {
    if (p->GetDescriptor()->full_name() == full_name) return p;
  }
  return nullptr;
}

}  // namespace

BodyDecoder::BodyDecoder() = default;
BodyDecoder::~BodyDecoder() = default;

BodyDecoder::Entry& BodyDecoder::Lookup(std::uint16_t service_id, std::uint16_t command_id) {
  const std::uint32_t key = (std::uint32_t{service_id} << 16) | command_id;
  // Traffic is dominated by one kind of PDU; a repeat skips the hash lookup.
  if (key == last_key_) return *last_;
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    last_key_ = key;
    last_ = &it->second;
  }
  if (it != entries_.end()) return it->second;
  Entry entry;
  if (const auto info = common::FindCommand(service_id, command_id)) {
    entry.command_name = info->name;
    entry.message_name = info->message_name;
    if (const google::protobuf::Message* proto = PrototypeByName(info->message_name)) {
      entry.message.reset(proto->New());
      entry.descriptor = proto->GetDescriptor();
      entry.reflection = proto->GetReflection();
    }
  }
  last_key_ = key;
  last_ = &entries_.emplace(key, std::move(entry)).first->second;
  return *last_;
}

const DecodedBody& BodyDecoder::Decode(std::uint16_t service_id, std::uint16_t command_id,
                                       std::span<const std::uint8_t> body) {
  Entry& entry = Lookup(service_id, command_id);
  result_.message = nullptr;
  result_.command_name = entry.command_name;
  result_.message_name = entry.message_name;
  result_.error.clear();
  result_.descriptor = entry.descriptor;
  result_.reflection = entry.reflection;
  if (!entry.message) return result_;
  google::protobuf::Message& m = *entry.message;
  // ParsePartial keeps going past missing required fields, so a report that lacks one is still
  // shown with what it has, and flagged.
  if (!m.ParsePartialFromArray(body.data(), static_cast<int>(body.size()))) {
    result_.error = "body does not parse as " + std::string(entry.message_name);
    return result_;
  }
  result_.message = &m;
  if (!m.IsInitialized()) {
    result_.error = "missing required field(s): " + m.InitializationErrorString();
  }
  return result_;
}

}  // namespace ttlogin::tools::pdu_dump
