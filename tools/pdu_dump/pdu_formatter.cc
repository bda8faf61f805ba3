#include "tools/pdu_dump/pdu_formatter.h"

#include <ctime>

#include <fmt/format.h>

#include "common/protocol.h"

namespace ttlogin::tools::pdu_dump {
namespace {

constexpr std::int64_t kMicrosPerSecond = 1000000;

void AppendFraction(std::int64_t micros, std::string& out) {
  char digits[6];
  for (int i = 5; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + micros % 10);
    micros /= 10;
  }
  out.append(digits, 6);
}

void SplitTime(TimestampUs ts, std::int64_t& sec, std::int64_t& usec) {
  sec = ts / kMicrosPerSecond;
  usec = ts % kMicrosPerSecond;
  if (usec < 0) {
    usec += kMicrosPerSecond;
    --sec;
  }
}

void AppendHex16(std::uint16_t v, std::string& out) {
  constexpr char kDigits[] = "0123456789abcdef";
  out += "0x";
  out += kDigits[(v >> 12) & 15];
  out += kDigits[(v >> 8) & 15];
  out += kDigits[(v >> 4) & 15];
  out += kDigits[v & 15];
}

}  // namespace

void PduFormatter::AppendIsoTime(TimestampUs ts, std::string& out) {
  std::int64_t sec = 0;
  std::int64_t usec = 0;
  SplitTime(ts, sec, usec);
  if (sec != cached_second_) {
    cached_second_ = sec;
    const std::time_t t = static_cast<std::time_t>(sec);
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr) {
      cached_date_ = fmt::format("@{}", sec);  // far outside the calendar: show seconds
    } else {
      cached_date_ = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
  }
  out += cached_date_;
  out += '.';
  AppendFraction(usec, out);
  out += 'Z';
}

void PduFormatter::AppendTextPrefix(const StreamInfo& stream, std::uint64_t offset, TimestampUs ts,
                                    std::string& out) {
  if (stream.has_endpoints) {
    AppendIsoTime(ts, out);
    if (stream.text_cache.empty()) {
      stream.text_cache = " " + stream.src_label + " -> " + stream.dst_label;
    }
    out += stream.text_cache;
  } else {
    // A raw stream has no time or addresses; its byte offset is what locates a PDU in it.
    out += stream.src_label;
    out += " offset=";
    AppendUnsigned(offset, out);
  }
}

void PduFormatter::AppendJsonPrefix(const StreamInfo& stream, std::uint64_t offset, TimestampUs ts,
                                    std::string& out) {
  if (stream.json_cache.empty()) {
    if (stream.has_endpoints) {
      stream.json_cache = ",\"src\":";
      AppendJsonString(stream.src_label, stream.json_cache);
      stream.json_cache += ",\"dst\":";
      AppendJsonString(stream.dst_label, stream.json_cache);
    } else {
      stream.json_cache = ",\"src\":null,\"dst\":null,\"input\":";
      AppendJsonString(stream.src_label, stream.json_cache);
    }
    stream.json_cache += ",\"offset\":";
  }
  out += "{\"ts\":";
  if (stream.has_endpoints) {
    std::int64_t sec = 0;
    std::int64_t usec = 0;
    SplitTime(ts, sec, usec);
    AppendSigned(sec, out);
    out += '.';
    AppendFraction(usec, out);
  } else {
    out += "null";
  }
  out += stream.json_cache;
  AppendUnsigned(offset, out);
}

const PduFormatter::CommandText& PduFormatter::CommandTextFor(const common::PduHeader& h,
                                                              const DecodedBody& body) {
  const std::uint32_t key = (std::uint32_t{h.service_id} << 16) | h.command_id;
  // Consecutive PDUs are mostly of one kind; skip the hash lookup for a repeat.
  if (key == last_key_) return *last_;
  auto it = commands_.find(key);
  if (it == commands_.end()) {
    CommandText c;
    const std::string_view service_name = common::ServiceName(h.service_id);
    c.text = " ";
    if (!service_name.empty()) {
      c.text += service_name;
      c.text += '(';
      AppendHex16(h.service_id, c.text);
      c.text += ')';
    } else {
      AppendHex16(h.service_id, c.text);
    }
    c.text += ' ';
    if (!body.command_name.empty()) {
      c.text += body.command_name;
      c.text += '(';
      AppendHex16(h.command_id, c.text);
      c.text += ')';
    } else {
      AppendHex16(h.command_id, c.text);
    }
    c.text += " seq=";
    c.json_ids = ",\"service\":";
    AppendUnsigned(h.service_id, c.json_ids);
    c.json_ids += ",\"command\":";
    AppendUnsigned(h.command_id, c.json_ids);
    c.json_ids += ",\"seq\":";
    auto name_or_null = [&c](std::string_view v) {
      if (v.empty()) {
        c.json_names += "null";
      } else {
        AppendJsonString(v, c.json_names);
      }
    };
    c.json_names = ",\"service_name\":";
    name_or_null(service_name);
    c.json_names += ",\"command_name\":";
    name_or_null(body.command_name);
    c.json_names += ",\"name\":";
    name_or_null(body.message_name);
    c.json_names += ",\"body\":";
    it = commands_.emplace(key, std::move(c)).first;
  }
  last_key_ = key;
  last_ = &it->second;
  return it->second;
}

void PduFormatter::AppendPdu(const StreamInfo& stream, const PduEvent& pdu, const DecodedBody& body,
                             std::string& out) {
  const common::PduHeader& h = pdu.header;
  const CommandText& names = CommandTextFor(h, body);
  if (format_ == OutputFormat::kText) {
    AppendTextPrefix(stream, pdu.offset, pdu.ts, out);
    out += " len=";
    AppendUnsigned(h.length, out);
    out += names.text;
    AppendUnsigned(h.seq_num, out);
    // Header words that a well-behaved peer leaves at their defaults are shown only when not.
    if (h.version != common::kPduVersion) {
      out += " version=";
      AppendUnsigned(h.version, out);
    }
    if (h.flag != 0) {
      out += " flag=";
      AppendUnsigned(h.flag, out);
    }
    if (h.reserved != 0) {
      out += " reserved=";
      AppendUnsigned(h.reserved, out);
    }
    out += ' ';
    if (body.message != nullptr) {
      out += body.message_name;
      out += " {";
      const std::size_t before = out.size();
      out += ' ';
      printer_.AppendText(*body.message, body.descriptor, body.reflection, out);
      if (out.size() == before + 1) out.pop_back();
      out += " }";
    } else {
      if (!body.message_name.empty()) {
        out += body.message_name;
        out += ' ';
      }
      out += "body(";
      AppendUnsigned(pdu.body.size(), out);
      out += ")=";
      AppendHex(pdu.body, out);
    }
    if (!body.error.empty()) {
      out += " ERROR: ";
      out += body.error;
    }
    out += '\n';
    return;
  }
  AppendJsonPrefix(stream, pdu.offset, pdu.ts, out);
  out += ",\"length\":";
  AppendUnsigned(h.length, out);
  out += names.json_ids;
  AppendUnsigned(h.seq_num, out);
  if (h.version != common::kPduVersion) {
    out += ",\"version\":";
    AppendUnsigned(h.version, out);
  }
  if (h.flag != 0) {
    out += ",\"flag\":";
    AppendUnsigned(h.flag, out);
  }
  if (h.reserved != 0) {
    out += ",\"reserved\":";
    AppendUnsigned(h.reserved, out);
  }
  out += names.json_names;
  if (body.message != nullptr) {
    printer_.AppendJson(*body.message, body.descriptor, body.reflection, out);
  } else {
    // Whatever we could not decode is still there for the reader, as bytes.
    out += "null,\"body_base64\":\"";
    AppendBase64(pdu.body, out);
    out += '"';
  }
  if (!body.error.empty()) {
    out += ",\"error\":";
    AppendJsonString(body.error, out);
  }
  out += "}\n";
}

void PduFormatter::AppendStreamError(const StreamInfo& stream, std::uint64_t offset, TimestampUs ts,
                                     std::string_view reason, std::string& out) {
  if (format_ == OutputFormat::kText) {
    AppendTextPrefix(stream, offset, ts, out);
    out += " ERROR at stream offset ";
    AppendUnsigned(offset, out);
    out += ": ";
    out += reason;
    out += '\n';
    return;
  }
  AppendJsonPrefix(stream, offset, ts, out);
  out +=
      ",\"length\":null,\"service\":null,\"command\":null,\"seq\":null,\"name\":null,"
      "\"body\":null,\"error\":";
  AppendJsonString(reason, out);
  out += "}\n";
}

}  // namespace ttlogin::tools::pdu_dump
