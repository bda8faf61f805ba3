// --raw and --hex: one direction of a connection as bytes, or as hex text (e.g. copied from a log
// or from Wireshark's "Copy as hex stream"), decoded with the same PduStreamDecoder as captures.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "tools/pdu_dump/capture_reader.h"
#include "tools/pdu_dump/pdu_dumper.h"

namespace ttlogin::tools::pdu_dump {

// Hex text to bytes, chunk by chunk; whitespace anywhere (also inside a byte's two digits) is
// ignored, anything else is an error with its position in the text.
class HexTextDecoder {
 public:
  // Appends the decoded bytes to `out`; returns false on the first invalid character.
  bool Feed(std::string_view text, std::vector<std::uint8_t>& out);
  // False when an odd digit is left over.
  bool Finish() const { return !half_; }
  const std::string& error() const { return error_; }

 private:
  std::uint64_t text_offset_ = 0;
  std::uint64_t line_ = 1;
  bool half_ = false;
  std::uint8_t high_ = 0;
  std::string error_;
};

// Reads `path` ("-" for stdin) to the end. `name` labels the PDUs.
InputResult ReadRawInput(const std::string& path, bool hex, PduDumper& dumper,
                         std::uint32_t max_pdu_size);

}  // namespace ttlogin::tools::pdu_dump
