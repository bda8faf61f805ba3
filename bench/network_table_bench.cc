// Network table micro-benchmarks: loading 100,000 prefixes from text, and one lookup
// with 10, 1,000 and 100,000 prefixes loaded, IPv4 and IPv6. The design target is a lookup cost
// bounded by the address length, not the table size, and a load well under a second.
//
// The tables look like carrier lists: IPv4 networks mostly /24 with some /16 to /23, IPv6 ones
// mostly /48 with some /32 to /44, all distinct, half ip1 and half ip2. Lookups use a fixed set
// of addresses, half inside a listed network, half random.
#include <benchmark/benchmark.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/network_table.h"

namespace {

using ttlogin::common::IpAddress;
using ttlogin::common::IpPrefix;
using ttlogin::common::NetworkTable;

enum class Family { kV4, kV6, kMixed };

IpPrefix RandomPrefix(std::mt19937_64& rng, bool v6) {
  IpPrefix p;
  const auto r = rng();
  if (!v6) {
    p.address =
        IpAddress::V4({static_cast<std::uint8_t>(1 + r % 223), static_cast<std::uint8_t>(r >> 8),
                       static_cast<std::uint8_t>(r >> 16), 0});
    p.length = r % 4 == 0 ? 16 + static_cast<int>((r >> 24) % 8) : 24;
  } else {
    std::array<std::uint8_t, 16> b{};
    b[0] = static_cast<std::uint8_t>(0x20 + (r >> 60) % 8);  // inside 2000::/3
    for (int i = 1; i < 6; ++i)
      b[i] = static_cast<std::uint8_t>(r >> (8 * i));
    p.address = IpAddress::V6(b);
    p.length = r % 4 == 0 ? 32 + 4 * static_cast<int>((r >> 48) % 4) : 48;
  }
  for (int bit = p.length; bit < p.address.bit_length(); ++bit)
    p.address.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  return p;
}

// Table text with `count` distinct networks, and the networks themselves.
std::string TableText(std::size_t count, Family family, std::vector<IpPrefix>* prefixes) {
  std::mt19937_64 rng(42);
  std::string text;
  std::vector<IpPrefix> out;
  std::set<std::string> seen;  // a repeat with the other preference would be refused
  while (out.size() < count) {
    const bool v6 = family == Family::kV6 || (family == Family::kMixed && out.size() % 2 == 1);
    const IpPrefix p = RandomPrefix(rng, v6);
    std::string line = p.ToString();
    if (!seen.insert(line).second) continue;
    text += line + (out.size() % 4 < 2 ? " ip1\n" : " ip2\n");
    out.push_back(p);
  }
  if (prefixes != nullptr) *prefixes = std::move(out);
  return text;
}

void BM_Load(benchmark::State& state) {
  const std::string text =
      TableText(static_cast<std::size_t>(state.range(0)), Family::kMixed, nullptr);
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto table = NetworkTable::Parse(text, "bench", nullptr);
    if (!table) {
      state.SkipWithError("table refused");
      return;
    }
    bytes = table->MemoryBytes();
    benchmark::DoNotOptimize(table);
  }
  state.counters["prefixes"] = static_cast<double>(state.range(0));
  state.counters["table_bytes"] = static_cast<double>(bytes);
  state.counters["text_bytes"] = static_cast<double>(text.size());
}

void Lookup(benchmark::State& state, Family family) {
  std::vector<IpPrefix> prefixes;
  const std::string text = TableText(static_cast<std::size_t>(state.range(0)), family, &prefixes);
  std::string error;
  const auto table = NetworkTable::Parse(text, "bench", &error);
  if (!table) {
    state.SkipWithError(error.c_str());
    return;
  }
  std::mt19937_64 rng(7);
  std::vector<IpAddress> addresses;
  for (int i = 0; i < 4096; ++i) {
    IpAddress a;
    if (i % 2 == 0) {
      const IpPrefix& p = prefixes[rng() % prefixes.size()];
      a = p.address;
      for (int bit = p.length; bit < a.bit_length(); ++bit)
        if ((rng() & 1) != 0) a.bytes[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
    } else {
      a = RandomPrefix(rng, family == Family::kV6).address;
      for (int k = 0; k < a.bit_length() / 8; ++k)
        a.bytes[k] ^= static_cast<std::uint8_t>(k < 2 ? 0 : rng());
    }
    addresses.push_back(a);
  }
  std::size_t i = 0;
  std::size_t matched = 0;
  for (auto _ : state) {
    const auto preference = table->Lookup(addresses[i]);
    matched += preference != ttlogin::common::AddressPreference::kNone;
    benchmark::DoNotOptimize(preference);
    i = (i + 1) & (addresses.size() - 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["table_bytes"] = static_cast<double>(table->MemoryBytes());
  state.counters["match_ratio"] =
      static_cast<double>(matched) /
      static_cast<double>(std::max<std::int64_t>(1, static_cast<std::int64_t>(state.iterations())));
}

void BM_LookupV4(benchmark::State& state) {
  Lookup(state, Family::kV4);
}
void BM_LookupV6(benchmark::State& state) {
  Lookup(state, Family::kV6);
}

}  // namespace

BENCHMARK(BM_Load)->Arg(100'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LookupV4)->Arg(10)->Arg(1'000)->Arg(100'000);
BENCHMARK(BM_LookupV6)->Arg(10)->Arg(1'000)->Arg(100'000);

BENCHMARK_MAIN();
