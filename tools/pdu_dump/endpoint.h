// An IPv4 or IPv6 address with a TCP port: the identity of one side of a captured connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace ttlogin::tools::pdu_dump {

struct Endpoint {
  // IPv4 addresses use the first 4 bytes; the rest stay zero so equality and hashing need no
  // special case per family.
  std::array<std::uint8_t, 16> address{};
  bool ipv6 = false;
  std::uint16_t port = 0;

  // Compared as two words rather than byte by byte: the connection table does this per segment.
  friend bool operator==(const Endpoint& x, const Endpoint& y) {
    std::uint64_t a[2];
    std::uint64_t b[2];
    std::memcpy(a, x.address.data(), sizeof a);
    std::memcpy(b, y.address.data(), sizeof b);
    return a[0] == b[0] && a[1] == b[1] && x.port == y.port && x.ipv6 == y.ipv6;
  }
};

// "10.0.0.1:8100" or "[2001:db8::1]:8100" (the bracket form every tool and URL parser accepts).
std::string FormatEndpoint(const Endpoint& endpoint);

struct EndpointHash {
  std::size_t operator()(const Endpoint& e) const noexcept;
};

}  // namespace ttlogin::tools::pdu_dump
