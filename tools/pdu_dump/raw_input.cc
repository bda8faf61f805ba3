#include "tools/pdu_dump/raw_input.h"

#include <cerrno>
#include <cstring>

#include "tools/pdu_dump/pdu_stream_decoder.h"

namespace ttlogin::tools::pdu_dump {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool HexTextDecoder::Feed(std::string_view text, std::vector<std::uint8_t>& out) {
  for (const char c : text) {
    ++text_offset_;
    if (c == '\n') ++line_;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') continue;
    const int v = HexValue(c);
    if (v < 0) {
      const auto uc = static_cast<unsigned char>(c);
      error_ =
          "invalid hex character " +
          (uc >= 0x20 && uc < 0x7f ? "'" + std::string(1, c) + "'" : "0x" + std::to_string(uc)) +
          " at text offset " + std::to_string(text_offset_ - 1) + " (line " +
          std::to_string(line_) + ")";
      return false;
    }
    if (!half_) {
      high_ = static_cast<std::uint8_t>(v);
      half_ = true;
    } else {
      out.push_back(static_cast<std::uint8_t>((high_ << 4) | v));
      half_ = false;
    }
  }
  return true;
}

InputResult ReadRawInput(const std::string& path, bool hex, PduDumper& dumper,
                         std::uint32_t max_pdu_size) {
  const bool use_stdin = path == "-";
  std::FILE* f = use_stdin ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return {InputStatus::kCannotOpen, path + ": cannot open: " + std::strerror(errno)};
  }
  StreamInfo info;
  info.has_endpoints = false;
  info.src_label = use_stdin ? "stdin" : path;
  info.dst_label = "-";
  dumper.OnStreamOpened();
  PduStreamDecoder decoder(info, dumper, max_pdu_size);
  HexTextDecoder hex_decoder;
  std::vector<char> chunk(kReadChunk);
  std::vector<std::uint8_t> bytes;
  InputResult result;
  std::uint64_t raw_offset = 0;
  while (!dumper.limit_reached()) {
    const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), f);
    if (n == 0) {
      if (std::ferror(f)) {
        dumper.OnInputError();
        result = {InputStatus::kDamaged, info.src_label + ": read error at offset " +
                                             std::to_string(raw_offset) + ": " +
                                             std::strerror(errno)};
      }
      break;
    }
    raw_offset += n;
    if (!hex) {
      decoder.OnData({reinterpret_cast<const std::uint8_t*>(chunk.data()), n}, 0);
      continue;
    }
    bytes.clear();
    const bool ok = hex_decoder.Feed({chunk.data(), n}, bytes);
    decoder.OnData(bytes, 0);
    if (!ok) {
      dumper.OnInputError();
      result = {InputStatus::kDamaged,
                info.src_label + ": " + hex_decoder.error() + "; decoded the bytes before it"};
      break;
    }
  }
  if (hex && result.status == InputStatus::kOk && !hex_decoder.Finish()) {
    dumper.OnInputError();
    result = {InputStatus::kDamaged, info.src_label + ": odd number of hex digits at the end"};
  }
  decoder.OnEnd(0);
  if (!use_stdin) std::fclose(f);
  return result;
}

}  // namespace ttlogin::tools::pdu_dump
