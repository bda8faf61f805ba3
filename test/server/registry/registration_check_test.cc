#include "server/registry/registration_check.h"

#include <gtest/gtest.h>

#include "server/registry/msg_server_registry.h"

namespace ttlogin::registry {
namespace {

MsgServerInfo Valid() {
  return MsgServerInfo{"10.0.0.1", "msg1.example.com", 8000, 100, 0, "msg-a"};
}

TEST(RegistrationCheckTest, AcceptsAddressesNamesAndEveryPortInRange) {
  for (const char* address :
       {"10.0.0.1", "2001:db8::1", "::ffff:192.0.2.1", "msg1.example.com", "msg1.example.com.", "a",
        "a-b.c-d", "xn--bcher-kva.example", "0msg.example"}) {
    MsgServerInfo info = Valid();
    info.ip1 = address;
    info.ip2 = address;
    EXPECT_FALSE(CheckRegistration(info)) << address;
  }
  for (std::uint32_t port : {1u, 8000u, 65535u}) {
    MsgServerInfo info = Valid();
    info.port = port;
    EXPECT_FALSE(CheckRegistration(info)) << port;
  }
  MsgServerInfo longest = Valid();
  longest.host_name.assign(kMaxHostNameBytes, 'h');
  // 253 bytes: four labels of 62 and one of 1, joined by dots.
  const std::string label(62, 'a');
  longest.ip2 = label + "." + label + "." + label + "." + label + ".b";
  ASSERT_EQ(longest.ip2.size(), kMaxDnsNameBytes);
  EXPECT_FALSE(CheckRegistration(longest));
}

TEST(RegistrationCheckTest, RefusesPortsOutsideOneTo65535) {
  for (std::uint32_t port : {0u, 65536u, 70000u, 4294967295u}) {
    MsgServerInfo info = Valid();
    info.port = port;
    const auto problem = CheckRegistration(info);
    ASSERT_TRUE(problem) << port;
    EXPECT_EQ(problem->reason, "bad_port");
    EXPECT_EQ(problem->field, "port");
    EXPECT_NE(problem->detail.find(std::to_string(port)), std::string::npos);
  }
}

TEST(RegistrationCheckTest, RefusesAnEmptyOrOversizedHostName) {
  for (std::size_t size : {std::size_t{0}, kMaxHostNameBytes + 1, std::size_t{63 * 1024}}) {
    MsgServerInfo info = Valid();
    info.host_name.assign(size, 'h');
    const auto problem = CheckRegistration(info);
    ASSERT_TRUE(problem) << size;
    EXPECT_EQ(problem->reason, "bad_host_name");
  }
}

TEST(RegistrationCheckTest, RefusesIpFieldsThatAreNeitherAddressNorDnsName) {
  const std::string label63(63, 'a');
  const std::string too_long = label63 + "." + label63 + "." + label63 + "." + label63 + "x";
  ASSERT_GT(too_long.size(), kMaxDnsNameBytes);
  for (const std::string& bad : {std::string(),
                                 std::string(20 * 1024, 'a'),
                                 too_long,
                                 std::string(64, 'a') + ".example",
                                 std::string("-msg.example"),
                                 std::string("msg-.example"),
                                 std::string("msg..example"),
                                 std::string("."),
                                 std::string("msg example"),
                                 std::string("msg_1.example"),
                                 std::string("10.0.0.1:8000"),
                                 std::string("http://10.0.0.1/"),
                                 std::string("a\0b", 3),
                                 std::string("10.0.0.1\0junk", 13),
                                 std::string("::1\0", 4),
                                 std::string("256.1.1.1"),
                                 std::string("10.0.0"),
                                 std::string("1.2.3.4.5"),
                                 std::string("12345"),
                                 std::string("\"><script>"),
                                 std::string("2001:db8::1::2")}) {
    for (int field = 1; field <= 2; ++field) {
      MsgServerInfo info = Valid();
      (field == 1 ? info.ip1 : info.ip2) = bad;
      const auto problem = CheckRegistration(info);
      ASSERT_TRUE(problem) << bad;
      EXPECT_EQ(problem->reason, "bad_address");
      EXPECT_EQ(problem->field, field == 1 ? "ip1" : "ip2");
      // The detail is ours, never the peer's text.
      if (!bad.empty()) {
        EXPECT_EQ(problem->detail.find(bad), std::string::npos);
      }
    }
  }
}

TEST(RegistrationCheckTest, PeerAddressOfStripsThePort) {
  EXPECT_EQ(PeerAddressOf("10.0.0.1:5000"), "10.0.0.1");
  EXPECT_EQ(PeerAddressOf("[2001:db8::1]:5000"), "2001:db8::1");
  EXPECT_EQ(PeerAddressOf("?"), "?");
}

}  // namespace
}  // namespace ttlogin::registry
