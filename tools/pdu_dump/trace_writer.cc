#include "tools/pdu_dump/trace_writer.h"

#include <algorithm>

#include "IM.Server.pb.h"
#include "common/protocol.h"
#include "tools/pdu_dump/message_printer.h"

namespace ttlogin::tools::pdu_dump {

const std::string* TraceWriter::NameFor(const std::string& label, bool create) {
  auto it = names_.find(label);
  if (it != names_.end()) return &it->second;
  if (!create) return nullptr;
  const int generation = ++generations_[label];
  std::string name = generation == 1 ? label : label + "#" + std::to_string(generation);
  return &names_.emplace(label, std::move(name)).first->second;
}

void TraceWriter::StartLine(TimestampUs ts) {
  if (!started_) {
    started_ = true;
    first_ts_ = ts;
  }
  const std::int64_t t = std::max(last_t_, (ts - first_ts_) / 1000);
  last_t_ = t;
  line_.assign("{\"t\":");
  AppendSigned(t, line_);
}

void TraceWriter::EndLine() {
  line_ += "}\n";
  std::fwrite(line_.data(), 1, line_.size(), out_);
  ++events_;
}

void TraceWriter::OnPdu(const StreamInfo& stream, const PduEvent& pdu, const DecodedBody& body) {
  const common::PduHeader& h = pdu.header;
  if (h.service_id == common::kSidLogin && h.command_id == common::kCidLoginReqMsgServer) {
    StartLine(pdu.ts);
    line_ += ",\"ev\":\"query\",\"via\":\"pdu\"";
    EndLine();
    return;
  }
  if (h.service_id != common::kSidOther) return;
  const std::string& label = stream.src_label;
  if (h.command_id == common::kCidOtherMsgServInfo) {
    const auto* info = dynamic_cast<const IM::Server::IMMsgServInfo*>(body.message);
    if (info == nullptr) return;
    const std::string& name = *NameFor(label, true);
    StartLine(pdu.ts);
    line_ += ",\"ms\":";
    AppendJsonString(name, line_);
    line_ += ",\"ev\":\"register\",\"ip1\":";
    AppendJsonString(info->ip1(), line_);
    line_ += ",\"ip2\":";
    AppendJsonString(info->ip2(), line_);
    line_ += ",\"port\":";
    AppendUnsigned(info->port(), line_);
    line_ += ",\"max\":";
    AppendUnsigned(info->max_conn_cnt(), line_);
    line_ += ",\"cur\":";
    AppendUnsigned(info->cur_conn_cnt(), line_);
    line_ += ",\"host\":";
    AppendJsonString(info->host_name(), line_);
    EndLine();
  } else if (h.command_id == common::kCidOtherUserCntUpdate) {
    const auto* update = dynamic_cast<const IM::Server::IMUserCntUpdate*>(body.message);
    if (update == nullptr || !update->has_user_action()) return;
    const bool inc = update->user_action() == common::kUserActionInc;
    const bool dec = update->user_action() == common::kUserActionDec;
    if (!inc && !dec) return;  // the classic server ignores other actions too
    // Only msg_servers send updates, so one from an unnamed address still names it: the classic
    // server accepts updates before registration and a faithful replay must too.
    const std::string& name = *NameFor(label, true);
    StartLine(pdu.ts);
    line_ += ",\"ms\":";
    AppendJsonString(name, line_);
    line_ += inc ? ",\"ev\":\"inc\",\"n\":1" : ",\"ev\":\"dec\"";
    EndLine();
  } else if (h.command_id == common::kCidOtherHeartbeat) {
    // The login server heartbeats too; only a known msg_server's heartbeat is a trace event.
    const std::string* name = NameFor(label, false);
    if (name == nullptr) return;
    StartLine(pdu.ts);
    line_ += ",\"ms\":";
    AppendJsonString(*name, line_);
    line_ += ",\"ev\":\"heartbeat\"";
    EndLine();
  }
}

void TraceWriter::OnConnectionClosed(const std::string& a, const std::string& b, TimestampUs ts) {
  for (const std::string* label : {&a, &b}) {
    auto it = names_.find(*label);
    if (it == names_.end()) continue;
    StartLine(ts);
    line_ += ",\"ms\":";
    AppendJsonString(it->second, line_);
    line_ += ",\"ev\":\"close\"";
    EndLine();
    names_.erase(it);
  }
}

}  // namespace ttlogin::tools::pdu_dump
