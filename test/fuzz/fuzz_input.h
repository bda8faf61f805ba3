// FuzzInput: turns a fuzzer's bytes into decisions, plus the checks the fuzz targets share.
//
// Every target defines LLVMFuzzerTestOneInput. Under TTLOGIN_FUZZ it links libFuzzer; otherwise
// it links replay_main.cc and ctest replays the target's corpus through the same function, so a
// regression input keeps failing in every ordinary build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

namespace ttlogin::fuzz {

// Consumes the input from the front. Once it runs dry every read yields zeros / empty spans, so
// a target never has to check lengths before asking.
class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : rest_(data, size) {}

  bool empty() const { return rest_.empty(); }
  std::size_t size() const { return rest_.size(); }

  std::uint8_t U8() {
    if (rest_.empty()) return 0;
    const std::uint8_t v = rest_.front();
    rest_ = rest_.subspan(1);
    return v;
  }
  std::uint16_t U16() { return static_cast<std::uint16_t>((U8() << 8) | U8()); }
  std::uint32_t U32() { return (std::uint32_t{U16()} << 16) | U16(); }
  bool Bool() { return (U8() & 1) != 0; }

  std::span<const std::uint8_t> Bytes(std::size_t n) {
    if (n > rest_.size()) n = rest_.size();
    const auto out = rest_.first(n);
    rest_ = rest_.subspan(n);
    return out;
  }
  // A string of up to `max_len` bytes, its length taken from the input.
  std::string String(std::size_t max_len) {
    const auto b = Bytes(U8() % (max_len + 1));
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  std::span<const std::uint8_t> Rest() { return Bytes(rest_.size()); }

 private:
  std::span<const std::uint8_t> rest_;
};

// A failed invariant: print what broke and abort, so libFuzzer records the input as a crash and
// the replay test fails.
[[noreturn]] inline void Fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", file, line, what);
  std::fflush(stderr);
  std::abort();
}
#define FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::ttlogin::fuzz::Fail(__FILE__, __LINE__, #cond))

// Big-endian readers written out again on purpose: the reference models below must not share
// code with what they check.
inline std::uint32_t Be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}
inline std::uint16_t Be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

}  // namespace ttlogin::fuzz
