// PduFormatter: one output line per PDU or stream error, in text or JSON.
//
// Text:  2023-11-14T22:13:20.000123Z 10.0.0.5:40000 -> 10.0.0.1:8100 len=22 SID_OTHER(0x0007)
//        CID_OTHER_USER_CNT_UPDATE(0x070b) seq=3 IM.Server.IMUserCntUpdate { user_action: 1 ... }
// JSON:  {"ts":1700000000.000123,"src":"10.0.0.5:40000","dst":"10.0.0.1:8100","offset":0,
//         "length":22,"service":7,"command":1803,"seq":3,"name":"IM.Server.IMUserCntUpdate",
//         "body":{"user_action":1,"user_id":5001}}
// The exact schema is in docs/PDU_DUMP.md; tests hold it to that.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tools/pdu_dump/body_decoder.h"
#include "tools/pdu_dump/message_printer.h"
#include "tools/pdu_dump/pdu_stream_decoder.h"

namespace ttlogin::tools::pdu_dump {

enum class OutputFormat { kText, kJson };

class PduFormatter {
 public:
  explicit PduFormatter(OutputFormat format) : format_(format) {}

  void AppendPdu(const StreamInfo& stream, const PduEvent& pdu, const DecodedBody& body,
                 std::string& out);
  void AppendStreamError(const StreamInfo& stream, std::uint64_t offset, TimestampUs ts,
                         std::string_view reason, std::string& out);

 private:
  void AppendTextPrefix(const StreamInfo& stream, std::uint64_t offset, TimestampUs ts,
                        std::string& out);
  void AppendJsonPrefix(const StreamInfo& stream, std::uint64_t offset, TimestampUs ts,
                        std::string& out);
  void AppendIsoTime(TimestampUs ts, std::string& out);

  // The parts of a line fixed by (service, command): names and numbers in both forms.
  struct CommandText {
    std::string text;        // " SID_OTHER(0x0007) CID_OTHER_USER_CNT_UPDATE(0x070b) seq="
    std::string json_ids;    // ",\"service\":7,\"command\":1803,\"seq\":"
    std::string json_names;  // ",\"service_name\":...,\"command_name\":...,\"name\":...,\"body\":"
  };
  const CommandText& CommandTextFor(const common::PduHeader& h, const DecodedBody& body);

  OutputFormat format_;
  std::unordered_map<std::uint32_t, CommandText> commands_;
  std::uint32_t last_key_ = 0xffffffff;
  const CommandText* last_ = nullptr;
  MessagePrinter printer_;
  // gmtime() per line would dominate the text output; lines share their second with neighbours.
  std::int64_t cached_second_ = INT64_MIN;
  std::string cached_date_;
};

}  // namespace ttlogin::tools::pdu_dump
