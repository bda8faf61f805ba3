#include "common/network_table.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/config_file.h"
#include "common/text_scan.h"

namespace ttlogin::common {
namespace {

using text::IsBlank;
using text::Quote;
using text::Trim;

std::optional<AddressPreference> ParsePreference(std::string_view word) {
  if (word.size() != 3) return std::nullopt;
  if ((word[0] | 0x20) != 'i' || (word[1] | 0x20) != 'p') return std::nullopt;
  if (word[2] == '1') return AddressPreference::kIp1;
  if (word[2] == '2') return AddressPreference::kIp2;
  return std::nullopt;
}

struct LineError {
  std::size_t line;
  std::string what;
};

struct ParsedLine {
  IpPrefix prefix;
  AddressPreference preference;
  std::size_t line;
};

}  // namespace

std::string_view ToString(AddressPreference preference) {
  switch (preference) {
    case AddressPreference::kIp1:
      return "ip1";
    case AddressPreference::kIp2:
      return "ip2";
    case AddressPreference::kNone:
      break;
  }
  return "none";
}

std::optional<NetworkTable> NetworkTable::Parse(std::string_view text, std::string_view source_name,
                                                std::string* error, std::size_t max_trie_nodes) {
  std::vector<LineError> syntax;  // the first kMaxNetworkTableErrors, in line order
  std::size_t syntax_count = 0;
  const auto report = [&](std::size_t line, std::string what) {
    if (++syntax_count <= kMaxNetworkTableErrors) syntax.push_back({line, std::move(what)});
  };

  std::vector<ParsedLine> parsed;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    line = line.substr(0, line.find('#'));

    std::string_view tokens[3];
    std::size_t count = 0;
    for (line = Trim(line); !line.empty() && count < 3; line = Trim(line)) {
      std::size_t end = 0;
      while (end < line.size() && !IsBlank(line[end]))
        ++end;
      tokens[count++] = line.substr(0, end);
      line.remove_prefix(end);
    }
    if (count == 0) continue;
    std::string why;
    const std::optional<IpPrefix> prefix = ParseIpPrefix(tokens[0], &why);
    if (!prefix) {
      report(line_no, why);
      continue;
    }
    if (count == 1) {
      report(line_no, "missing preference after " + Quote(tokens[0]) + " (expected ip1 or ip2)");
      continue;
    }
    const std::optional<AddressPreference> preference = ParsePreference(tokens[1]);
    if (!preference) {
      report(line_no, "unknown preference " + Quote(tokens[1]) + " (expected ip1 or ip2)");
      continue;
    }
    if (count == 3) {
      report(line_no, "unexpected " + Quote(tokens[2]) +
                          " after the preference (one '<network> <ip1|ip2>' per line)");
      continue;
    }
    if (parsed.size() == kMaxNetworkTablePrefixes) {
      report(line_no, "more than " + std::to_string(kMaxNetworkTablePrefixes) +
                          " networks; this is not a carrier table");
      break;
    }
    parsed.push_back({*prefix, *preference, line_no});
  }

  // The same network on several lines: the first one sets the preference; a later one that
  // disagrees is an error naming the first.
  std::sort(parsed.begin(), parsed.end(), [](const ParsedLine& a, const ParsedLine& b) {
    if (PrefixLess(a.prefix, b.prefix)) return true;
    if (PrefixLess(b.prefix, a.prefix)) return false;
    return a.line < b.line;
  });
  std::vector<PrefixTrie::Entry> entries;
  entries.reserve(parsed.size());
  struct Conflict {
    std::size_t line;
    std::size_t index;  // in parsed
    std::size_t first;  // in parsed
  };
  std::vector<Conflict> conflicts;
  for (std::size_t i = 0, first = 0; i < parsed.size(); ++i) {
    if (i > 0 && parsed[i].prefix == parsed[first].prefix) {
      if (parsed[i].preference != parsed[first].preference)
        conflicts.push_back({parsed[i].line, i, first});
      continue;
    }
    first = i;
    entries.push_back({parsed[i].prefix, static_cast<std::uint8_t>(parsed[i].preference)});
  }

  if (syntax_count > 0 || !conflicts.empty()) {
    if (error != nullptr) {
      // Both lists are in line order and the first kMaxNetworkTableErrors of their union lie in
      // the first kMaxNetworkTableErrors of each.
      const std::size_t total = syntax_count + conflicts.size();
      std::sort(conflicts.begin(), conflicts.end(),
                [](const Conflict& a, const Conflict& b) { return a.line < b.line; });
      if (conflicts.size() > kMaxNetworkTableErrors) conflicts.resize(kMaxNetworkTableErrors);
      std::vector<LineError> all = std::move(syntax);
      for (const Conflict& c : conflicts) {
        const ParsedLine& here = parsed[c.index];
        const ParsedLine& there = parsed[c.first];
        all.push_back({c.line, here.prefix.ToString() + " is given " +
                                   std::string(ToString(here.preference)) + " here but " +
                                   std::string(ToString(there.preference)) + " on line " +
                                   std::to_string(there.line)});
      }
      std::stable_sort(all.begin(), all.end(),
                       [](const LineError& a, const LineError& b) { return a.line < b.line; });
      error->clear();
      for (std::size_t i = 0; i < all.size() && i < kMaxNetworkTableErrors; ++i) {
        if (i > 0) *error += '\n';
        *error += std::string(source_name) + ":" + std::to_string(all[i].line) + ": " + all[i].what;
      }
      if (total > kMaxNetworkTableErrors) {
        *error += "\n" + std::string(source_name) + ": " +
                  std::to_string(total - kMaxNetworkTableErrors) + " more errors not shown";
      }
    }
    return std::nullopt;
  }

  NetworkTable table;
  table.size_ = entries.size();
  std::optional<PrefixTrie> trie = PrefixTrie::Build(std::move(entries), max_trie_nodes);
  if (!trie) {
    if (error != nullptr) {
      *error = std::string(source_name) + ": its " + std::to_string(table.size_) +
               " networks need more than " + std::to_string(max_trie_nodes) + " lookup nodes (" +
               std::to_string(max_trie_nodes * PrefixTrie::kNodeBytes / (1024 * 1024)) +
               " MiB); long IPv6 prefixes that share nothing cost the most; this is not a "
               "carrier table";
    }
    return std::nullopt;
  }
  table.trie_ = std::move(*trie);
  return table;
}

std::optional<NetworkTable> NetworkTable::LoadFile(const std::string& path, std::string* error) {
  // Non-blocking and refusing FIFOs, sockets and devices: a reload must never wait on this file.
  std::string text;
  if (const std::string why = ReadRegularFile(path, kMaxNetworkTableFileSize, text); !why.empty()) {
    if (error != nullptr) {
      const bool too_big = why.starts_with("larger than");
      *error =
          path + ": " +
          (too_big ? "larger than " + std::to_string(kMaxNetworkTableFileSize / (1024 * 1024)) +
                         " MiB; this is not a carrier table"
                   : why);
    }
    return std::nullopt;
  }
  return Parse(text, path, error);
}

}  // namespace ttlogin::common
