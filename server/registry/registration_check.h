// CheckRegistration: what an IMMsgServInfo must hold before the registry keeps it.
//
// The classic server kept whatever a msg_server sent: strings of any size up to MaxPduSize (2,000
// registrations of 63 KB each held 133 MB, and every /servers answer and client reply copied them)
// and ports such as 0 or 70000, which clients were then told to connect to. The strings are what
// clients and operators are handed, so they are held to what they are for: ip1/ip2 are addresses
// a client connects to (an IP literal or a DNS name), host_name names a host, the port is a TCP
// port. Pure text checks, no sockets and no resolver.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "server/registry/msg_server_registry.h"

namespace ttlogin::registry {

// A host name as gethostname() returns it is at most 255 bytes (HOST_NAME_MAX is 64 on Linux).
inline constexpr std::size_t kMaxHostNameBytes = 255;
// A DNS name in text form, without the trailing dot (RFC 1035: 255 octets on the wire).
inline constexpr std::size_t kMaxDnsNameBytes = 253;
inline constexpr std::size_t kMaxDnsLabelBytes = 63;
inline constexpr std::uint32_t kMaxPort = 65535;

// Why a registration was refused; `reason` is the metric label, `field` the IMMsgServInfo field.
struct RegistrationProblem {
  std::string_view reason;  // "bad_port", "bad_host_name" or "bad_address"
  std::string_view field;   // "port", "host_name", "ip1" or "ip2"
  std::string detail;       // for the log line; holds no peer-supplied text
};

// nullopt when `info` may be registered.
std::optional<RegistrationProblem> CheckRegistration(const MsgServerInfo& info);

// An IPv4 or IPv6 literal (as inet_pton reads it), or a DNS name of at most kMaxDnsNameBytes:
// dot-separated labels of 1-63 letters, digits and '-', none starting or ending with '-', the last
// not all digits (one trailing dot allowed).
bool IsAddressOrDnsName(std::string_view text);

}  // namespace ttlogin::registry
