// The 16-byte TeamTalk PDU header: layout, constants, and a big-endian codec.
// This file knows bytes only; it has no sockets and no protobuf.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ttlogin::common {

// Size of the fixed header that starts every PDU.
inline constexpr std::size_t kPduHeaderSize = 16;
// Version every peer of the classic protocol writes.
inline constexpr std::uint16_t kPduVersion = 1;
// Default bound on a whole PDU (header included). The classic server had no bound at all, so a
// single bogus length made it buffer without limit; 64 KiB is far above any login-tier message.
inline constexpr std::uint32_t kDefaultMaxPduSize = 64 * 1024;

struct PduHeader {
  std::uint32_t length = 0;  // whole PDU, header included
  std::uint16_t version = kPduVersion;
  std::uint16_t flag = 0;
  std::uint16_t service_id = 0;
  std::uint16_t command_id = 0;
  std::uint16_t seq_num = 0;
  std::uint16_t reserved = 0;

  friend bool operator==(const PduHeader&, const PduHeader&) = default;
};

// Writes `header` into the first kPduHeaderSize bytes of `out`.
void EncodePduHeader(const PduHeader& header, std::span<std::uint8_t, kPduHeaderSize> out);

// Reads a header from the first kPduHeaderSize bytes of `in`. Does not validate the length.
PduHeader DecodePduHeader(std::span<const std::uint8_t, kPduHeaderSize> in);

// Big-endian helpers shared by the header codec and the tools that peek at raw bytes.
inline std::uint32_t LoadBe32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
inline std::uint16_t LoadBe16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline void StoreBe32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
inline void StoreBe16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

}  // namespace ttlogin::common
