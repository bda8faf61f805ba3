#include "tools/pdu_dump/endpoint.h"

#include <arpa/inet.h>
#include <sys/socket.h>

namespace ttlogin::tools::pdu_dump {

std::string FormatEndpoint(const Endpoint& endpoint) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(endpoint.ipv6 ? AF_INET6 : AF_INET, endpoint.address.data(), text, sizeof(text));
  std::string out;
  if (endpoint.ipv6) {
    out.append("[").append(text).append("]");
  } else {
    out.append(text);
  }
  out.append(":").append(std::to_string(endpoint.port));
  return out;
}

std::size_t EndpointHash::operator()(const Endpoint& e) const noexcept {
  // FNV-1a: the connection table sees one lookup per segment, so the hash must be cheap, and
  // capture files are not adversarial enough to need a keyed hash.
  std::uint64_t h = 1469598103934665603ull;
  const std::size_t len = e.ipv6 ? 16 : 4;
  for (std::size_t i = 0; i < len; ++i) {
    h = (h ^ e.address[i]) * 1099511628211ull;
  }
  h = (h ^ e.port) * 1099511628211ull;
  return static_cast<std::size_t>(h);
}

}  // namespace ttlogin::tools::pdu_dump
