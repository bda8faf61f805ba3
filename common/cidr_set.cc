#include "common/cidr_set.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/text_scan.h"

namespace ttlogin::common {

using text::IsBlank;

std::optional<CidrSet> CidrSet::Parse(std::string_view list, std::string* error) {
  std::vector<PrefixTrie::Entry> entries;
  while (!list.empty()) {
    std::size_t end = 0;
    while (end < list.size() && list[end] != ',' && !IsBlank(list[end]))
      ++end;
    const std::string_view element = list.substr(0, end);
    list.remove_prefix(end == list.size() ? end : end + 1);
    if (element.empty()) continue;
    const std::optional<IpPrefix> prefix = ParseIpPrefix(element, error);
    if (!prefix) return std::nullopt;
    entries.push_back({*prefix, 1});
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return PrefixLess(a.prefix, b.prefix); });
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const auto& a, const auto& b) { return a.prefix == b.prefix; }),
                entries.end());
  CidrSet set;
  set.size_ = entries.size();
  std::optional<PrefixTrie> trie = PrefixTrie::Build(std::move(entries));
  if (!trie) {
    if (error != nullptr) *error = std::to_string(set.size_) + " networks: too many for one list";
    return std::nullopt;
  }
  set.trie_ = std::move(*trie);
  return set;
}

}  // namespace ttlogin::common
