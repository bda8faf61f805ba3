// Renders a protobuf message, and the raw byte runs around it, as one line of text or JSON.
//
// Written against reflection instead of TextFormat/JsonStringFormat because the output of a
// multi-GB capture is millions of lines: these append to one reused buffer with no per-call
// allocation, which is several times faster, and they let us choose the JSON mapping (integers of
// every width stay numbers, where protobuf's mapping quotes 64-bit ones).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <google/protobuf/message.h>

#include "common/json_text.h"

namespace ttlogin::tools::pdu_dump {

class MessagePrinter {
 public:
  // Protobuf text format on one line: `user_action: 1 user_id: 5001`, strings quoted and
  // C-escaped, enums by name, nested messages in braces, unknown fields by number.
  void AppendText(const google::protobuf::Message& message, std::string& out);
  // A JSON object keyed by field names; bytes are base64, enums their name, unknown fields keyed
  // by their number.
  void AppendJson(const google::protobuf::Message& message, std::string& out);
  // The same, with the message's descriptor and reflection supplied by a caller that cached them:
  // asking the message for them costs a std::call_once per call in protobuf 3.21, which showed
  // in profiles at millions of PDUs per second.
  void AppendText(const google::protobuf::Message& message,
                  const google::protobuf::Descriptor* descriptor,
                  const google::protobuf::Reflection* reflection, std::string& out);
  void AppendJson(const google::protobuf::Message& message,
                  const google::protobuf::Descriptor* descriptor,
                  const google::protobuf::Reflection* reflection, std::string& out);

 private:
  // A message type's fields in number order (the order TextFormat prints), and its reflection.
  struct Layout {
    const google::protobuf::Reflection* reflection = nullptr;
    std::vector<const google::protobuf::FieldDescriptor*> fields;
    // Per field, what precedes its value: `name: ` / `name {` in text, `"name":` in JSON.
    std::vector<std::string> text_keys;
    std::vector<std::string> json_keys;
  };
  const Layout& LayoutFor(const google::protobuf::Descriptor* descriptor,
                          const google::protobuf::Reflection* reflection);

  void AppendTextField(const google::protobuf::Message& m, const google::protobuf::Reflection* r,
                       const google::protobuf::FieldDescriptor* f, int index, std::string& out,
                       int depth);
  void AppendJsonValue(const google::protobuf::Message& m, const google::protobuf::Reflection* r,
                       const google::protobuf::FieldDescriptor* f, int index, std::string& out,
                       int depth);
  void AppendTextMessage(const google::protobuf::Message& m, const Layout& layout, std::string& out,
                         int depth);
  void AppendJsonMessage(const google::protobuf::Message& m, const Layout& layout, std::string& out,
                         int depth);

  std::unordered_map<const google::protobuf::Descriptor*, Layout> layouts_;
  const google::protobuf::Descriptor* last_descriptor_ = nullptr;
  const Layout* last_layout_ = nullptr;
};

void AppendHex(std::span<const std::uint8_t> bytes, std::string& out);
void AppendBase64(std::span<const std::uint8_t> bytes, std::string& out);
// A JSON string literal, quotes included. Invalid UTF-8 becomes U+FFFD so the line stays JSON.
inline void AppendJsonString(std::string_view text, std::string& out) {
  common::AppendJsonQuoted(out, text);
}
// A text-format string literal, quotes included (the C escapes protobuf's TextFormat uses).
void AppendCEscaped(std::string_view text, std::string& out);
void AppendUnsigned(std::uint64_t value, std::string& out);
void AppendSigned(std::int64_t value, std::string& out);

}  // namespace ttlogin::tools::pdu_dump
