// JSON string text, written by hand where building a DOM would cost too much (the HTTP reply, log
// lines, pdu_dump's JSON output). One escaper for all of them, so every JSON the product writes
// treats odd bytes the same way.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ttlogin::common {

// Appends `text` as the contents of a JSON string (without the quotes): '"' and '\' escaped,
// \n \r \t as such, other control characters and DEL as \u00XX; well-formed UTF-8 kept as it is,
// and each byte that does not start a well-formed sequence (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF) replaced by U+FFFD. The result is always valid JSON,
// whatever bytes a peer sent.
void AppendJsonEscaped(std::string& out, std::string_view text);

// The same, between quotes.
void AppendJsonQuoted(std::string& out, std::string_view text);

// Length of the well-formed UTF-8 sequence starting at text[i] (1 for ASCII), 0 if none does.
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i);

}  // namespace ttlogin::common
