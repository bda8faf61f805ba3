// BodyDecoder: turns a PDU body into the protobuf message its (service, command) pair names.
//
// One message instance per known type is parsed into again and again, so decoding a PDU allocates
// nothing once the instances have grown to the size of the traffic.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include <google/protobuf/message.h>

namespace ttlogin::tools::pdu_dump {

struct DecodedBody {
  // Null for an unknown (service, command), or when the body is not a valid encoding.
  const google::protobuf::Message* message = nullptr;
  // The message type's descriptor and reflection, cached (set whenever the type is known).
  const google::protobuf::Descriptor* descriptor = nullptr;
  const google::protobuf::Reflection* reflection = nullptr;
  std::string_view command_name;  // empty when unknown
  std::string_view message_name;  // empty when unknown
  // Set when the body does not parse, or parses but lacks required fields (then `message` holds
  // what did parse, since a partial view still helps).
  std::string error;
};

class BodyDecoder {
 public:
  BodyDecoder();
  ~BodyDecoder();
  BodyDecoder(const BodyDecoder&) = delete;
  BodyDecoder& operator=(const BodyDecoder&) = delete;

  // The result's message stays valid until the next call.
  const DecodedBody& Decode(std::uint16_t service_id, std::uint16_t command_id,
                            std::span<const std::uint8_t> body);

 private:
  struct Entry {
    std::string_view command_name;
    std::string_view message_name;
    std::unique_ptr<google::protobuf::Message> message;  // null when the pair is unknown
    const google::protobuf::Descriptor* descriptor = nullptr;
    const google::protobuf::Reflection* reflection = nullptr;
  };
  Entry& Lookup(std::uint16_t service_id, std::uint16_t command_id);

  std::unordered_map<std::uint32_t, Entry> entries_;  // node-based: pointers stay valid
  std::uint32_t last_key_ = 0xffffffff;
  Entry* last_ = nullptr;
  DecodedBody result_;
};

}  // namespace ttlogin::tools::pdu_dump
