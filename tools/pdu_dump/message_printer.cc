#include "tools/pdu_dump/message_printer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>

namespace ttlogin::tools::pdu_dump {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kBase64Digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void AppendDouble(double v, std::string& out) {
  if (std::isfinite(v)) {
    fmt::format_to(std::back_inserter(out), "{}", v);
  } else {
    out += std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  }
}

std::span<const std::uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

void AppendUnknownText(const UnknownFieldSet& set, std::string& out) {
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    if (!out.empty() && out.back() != '{' && out.back() != ' ') out += ' ';
    AppendUnsigned(static_cast<std::uint64_t>(f.number()), out);
    switch (f.type()) {
      case UnknownField::TYPE_VARINT:
        out += ": ";
        AppendUnsigned(f.varint(), out);
        break;
      case UnknownField::TYPE_FIXED32:
        fmt::format_to(std::back_inserter(out), ": 0x{:08x}", f.fixed32());
        break;
      case UnknownField::TYPE_FIXED64:
        fmt::format_to(std::back_inserter(out), ": 0x{:016x}", f.fixed64());
        break;
      case UnknownField::TYPE_LENGTH_DELIMITED:
        out += ": ";
        AppendCEscaped(f.length_delimited(), out);
        break;
      case UnknownField::TYPE_GROUP:
        out += " {";
        AppendUnknownText(f.group(), out);
        out += " }";
        break;
    }
  }
}

void AppendUnknownJsonValue(const UnknownField& f, std::string& out);

void AppendUnknownJsonMembers(const UnknownFieldSet& set, std::string& out, bool& first) {
  // Several occurrences of one unknown number become one array, so keys stay unique.
  std::map<int, std::vector<int>> by_number;
  for (int i = 0; i < set.field_count(); ++i)
    by_number[set.field(i).number()].push_back(i);
  for (const auto& [number, indexes] : by_number) {
    if (!first) out += ',';
    first = false;
    out += '"';
    AppendUnsigned(static_cast<std::uint64_t>(number), out);
    out += "\":";
    if (indexes.size() == 1) {
      AppendUnknownJsonValue(set.field(indexes[0]), out);
      continue;
    }
    out += '[';
    for (std::size_t k = 0; k < indexes.size(); ++k) {
      if (k != 0) out += ',';
      AppendUnknownJsonValue(set.field(indexes[k]), out);
    }
    out += ']';
  }
}

void AppendUnknownJsonValue(const UnknownField& f, std::string& out) {
  switch (f.type()) {
    case UnknownField::TYPE_VARINT:
      AppendUnsigned(f.varint(), out);
      break;
    case UnknownField::TYPE_FIXED32:
      AppendUnsigned(f.fixed32(), out);
      break;
    case UnknownField::TYPE_FIXED64:
      AppendUnsigned(f.fixed64(), out);
      break;
    case UnknownField::TYPE_LENGTH_DELIMITED:
      out += '"';
      AppendBase64(AsBytes(f.length_delimited()), out);
      out += '"';
      break;
    case UnknownField::TYPE_GROUP: {
      out += '{';
      bool first = true;
      AppendUnknownJsonMembers(f.group(), out, first);
      out += '}';
      break;
    }
  }
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
}  // namespace

void AppendUnsigned(std::uint64_t value, std::string& out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), value);
  // The (pointer, length) overload: the iterator-pair one goes through std::string::replace.
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void AppendSigned(std::int64_t value, std::string& out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), value);
  // The (pointer, length) overload: the iterator-pair one goes through std::string::replace.
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void AppendHex(std::span<const std::uint8_t> bytes, std::string& out) {
  const std::size_t start = out.size();
  out.resize(start + bytes.size() * 2);
  char* p = out.data() + start;
  for (const std::uint8_t b : bytes) {
    *p++ = kHexDigits[b >> 4];
    *p++ = kHexDigits[b & 0x0f];
  }
}

void AppendBase64(std::span<const std::uint8_t> bytes, std::string& out) {
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v =
        (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += kBase64Digits[(v >> 18) & 63];
    out += kBase64Digits[(v >> 12) & 63];
    out += kBase64Digits[(v >> 6) & 63];
    out += kBase64Digits[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{bytes[i]} << 16;
    out += kBase64Digits[(v >> 18) & 63];
    out += kBase64Digits[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8);
    out += kBase64Digits[(v >> 18) & 63];
    out += kBase64Digits[(v >> 12) & 63];
    out += kBase64Digits[(v >> 6) & 63];
    out += '=';
  }
}

void AppendCEscaped(std::string_view text, std::string& out) {
  out += '"';
  for (const char ch : text) {
    const auto c = static_cast<std::uint8_t>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\'':
        out += "\\'";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        // Octal for anything unprintable, as TextFormat does, so a log line never carries raw
        // control bytes from the wire.
        if (c < 0x20 || c >= 0x7f) {
          out += '\\';
          out += static_cast<char>('0' + (c >> 6));
          out += static_cast<char>('0' + ((c >> 3) & 7));
          out += static_cast<char>('0' + (c & 7));
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

const MessagePrinter::Layout& MessagePrinter::LayoutFor(const Descriptor* descriptor,
                                                        const Reflection* reflection) {
  if (descriptor == last_descriptor_) return *last_layout_;
  auto it = layouts_.find(descriptor);
  if (it != layouts_.end()) {
    last_descriptor_ = descriptor;
    last_layout_ = &it->second;
    return it->second;
  }
  Layout layout;
  layout.reflection = reflection;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    layout.fields.push_back(descriptor->field(i));
  }
  std::sort(
      layout.fields.begin(), layout.fields.end(),
      [](const FieldDescriptor* a, const FieldDescriptor* b) { return a->number() < b->number(); });
  for (const FieldDescriptor* f : layout.fields) {
    const bool message = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    layout.text_keys.push_back(f->name() + (message ? " {" : ": "));
    layout.json_keys.push_back("\"" + f->name() + "\":");
  }
  last_descriptor_ = descriptor;
  last_layout_ = &layouts_.emplace(descriptor, std::move(layout)).first->second;
  return *last_layout_;
}

void MessagePrinter::AppendText(const Message& message, std::string& out) {
  AppendText(message, message.GetDescriptor(), message.GetReflection(), out);
}

void MessagePrinter::AppendJson(const Message& message, std::string& out) {
  AppendJson(message, message.GetDescriptor(), message.GetReflection(), out);
}

void MessagePrinter::AppendText(const Message& message, const Descriptor* descriptor,
                                const Reflection* reflection, std::string& out) {
  AppendTextMessage(message, LayoutFor(descriptor, reflection), out, 0);
}

void MessagePrinter::AppendJson(const Message& message, const Descriptor* descriptor,
                                const Reflection* reflection, std::string& out) {
  AppendJsonMessage(message, LayoutFor(descriptor, reflection), out, 0);
}

void MessagePrinter::AppendTextMessage(const Message& m, const Layout& layout, std::string& out,
                                       int depth) {
  const Reflection* r = layout.reflection;
  bool first = true;
  for (std::size_t k = 0; k < layout.fields.size(); ++k) {
    const FieldDescriptor* f = layout.fields[k];
    int count = 1;
    if (f->is_repeated()) {
      count = r->FieldSize(m, f);
    } else if (!r->HasField(m, f)) {
      continue;
    }
    for (int i = 0; i < count; ++i) {
      if (!first) out += ' ';
      first = false;
      out += layout.text_keys[k];
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        const std::size_t before = out.size();
        out += ' ';
        AppendTextField(m, r, f, f->is_repeated() ? i : -1, out, depth);
        if (out.size() == before + 1) out.pop_back();  // `name { }`, as TextFormat prints it
        out += " }";
      } else {
        AppendTextField(m, r, f, f->is_repeated() ? i : -1, out, depth);
      }
    }
  }
  const UnknownFieldSet& unknown = r->GetUnknownFields(m);
  if (!unknown.empty()) {
    if (!first) out += ' ';
    AppendUnknownText(unknown, out);
  }
}

void MessagePrinter::AppendTextField(const Message& m, const Reflection* r,
                                     const FieldDescriptor* f, int index, std::string& out,
                                     int depth) {
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      AppendSigned(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      AppendSigned(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      AppendUnsigned(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      AppendUnsigned(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendDouble(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendDouble(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int v = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      const auto* value = f->enum_type()->FindValueByNumber(v);
      if (value != nullptr) {
        out += value->name();
      } else {
        AppendSigned(v, out);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      AppendCEscaped(s, out);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      AppendTextMessage(sub, LayoutFor(sub.GetDescriptor(), sub.GetReflection()), out, depth + 1);
    } break;
  }
}

void MessagePrinter::AppendJsonMessage(const Message& m, const Layout& layout, std::string& out,
                                       int depth) {
  const Reflection* r = layout.reflection;
  out += '{';
  bool first = true;
  for (std::size_t k = 0; k < layout.fields.size(); ++k) {
    const FieldDescriptor* f = layout.fields[k];
    if (f->is_repeated() ? r->FieldSize(m, f) == 0 : !r->HasField(m, f)) continue;
    if (!first) out += ',';
    first = false;
    out += layout.json_keys[k];
    if (f->is_repeated()) {
      out += '[';
      const int count = r->FieldSize(m, f);
      for (int i = 0; i < count; ++i) {
        if (i != 0) out += ',';
        AppendJsonValue(m, r, f, i, out, depth);
      }
      out += ']';
    } else {
      AppendJsonValue(m, r, f, -1, out, depth);
    }
  }
  const UnknownFieldSet& unknown = r->GetUnknownFields(m);
  if (!unknown.empty()) AppendUnknownJsonMembers(unknown, out, first);
  out += '}';
}

void MessagePrinter::AppendJsonValue(const Message& m, const Reflection* r,
                                     const FieldDescriptor* f, int index, std::string& out,
                                     int depth) {
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      const double v = f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE
                           ? (rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f))
                           : (rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
      if (std::isfinite(v)) {
        AppendDouble(v, out);
      } else {
        out += std::isnan(v) ? "\"NaN\"" : (v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int v = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      const auto* value = f->enum_type()->FindValueByNumber(v);
      if (value != nullptr) {
        AppendJsonString(value->name(), out);
      } else {
        AppendSigned(v, out);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        out += '"';
        AppendBase64(AsBytes(s), out);
        out += '"';
      } else {
        AppendJsonString(s, out);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      AppendJsonMessage(sub, LayoutFor(sub.GetDescriptor(), sub.GetReflection()), out, depth + 1);
    } break;
    default:
      // Integers and bools print the same in both forms.
      AppendTextField(m, r, f, index, out, depth);
      break;
  }
}

}  // namespace ttlogin::tools::pdu_dump
