// Address values for the tests of common/'s address code, parsed by the code under test: a value
// that does not parse fails the test that asked for it, with the text.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

#include "common/cidr_set.h"
#include "common/ip_address.h"

namespace ttlogin::common::testutil {

inline IpAddress Ip(std::string_view text) {
  const auto a = ParseIpAddress(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

inline IpPrefix Prefix(std::string_view text) {
  std::string error;
  const auto p = ParseIpPrefix(text, &error);
  EXPECT_TRUE(p.has_value()) << error;
  return p.value_or(IpPrefix{});
}

inline CidrSet Set(std::string_view list) {
  std::string error;
  auto set = CidrSet::Parse(list, &error);
  EXPECT_TRUE(set.has_value()) << error;
  return set ? std::move(*set) : CidrSet{};
}

}  // namespace ttlogin::common::testutil
