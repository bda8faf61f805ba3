// The X-Forwarded-For walk: which address is the client's when a request arrives through our own
// proxies. Only trusted proxies are believed, and a hostile header buys a bounded amount of work.
// docs/NETWORK_TABLE.md ("Trusted proxies and X-Forwarded-For") states the rule with examples.
#pragma once

#include <string_view>

#include "common/cidr_set.h"
#include "common/ip_address.h"

namespace ttlogin::common {

// How many X-Forwarded-For elements are looked at, from the right, at most: a real chain is a
// few proxies long, and a hostile header must not buy unbounded work.
inline constexpr int kMaxForwardedHops = 16;

// The client's address for a request that arrived from `peer` carrying X-Forwarded-For `xff`
// (several headers joined with ", "; empty when there is none).
//  - `peer` not in `trusted`: `peer`, whatever the header says.
//  - otherwise walk the elements from the right, skipping trusted ones; the first untrusted
//    element is the client. If every element is trusted, the leftmost one is the client.
//  - an element that does not parse (garbage, "unknown", an empty element) stops the walk: the
//    answer is the last good address seen (the peer or the last trusted element).
//  - after kMaxForwardedHops trusted elements the walk stops at the last of them.
// Elements may carry blanks around them, brackets ("[2001:db8::1]"), and a port
// ("1.2.3.4:5678", "[2001:db8::1]:5678"), as some proxies write them; the port is ignored.
[[nodiscard]] IpAddress ResolveClientAddress(const IpAddress& peer, std::string_view xff,
                                             const CidrSet& trusted);

}  // namespace ttlogin::common
