// loadgen against the real login_server: a msg_server connection the server refuses or closes
// must end the run at once with a reason, not leave it waiting out --timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::test {
namespace {

using namespace std::chrono_literals;

TEST(LoadgenTest, UpdatesFailPromptlyWhenTheServerRefusesAConnection) {
  // One msg_server connection per address: the sentinel gets it, the first subject is refused.
  ServerProcess server("MaxMsgServerConnectionsPerAddress=1\n");
  ASSERT_TRUE(server.started()) << server.log();
  std::string output;
  const auto start = std::chrono::steady_clock::now();
  // --timeout is far above the bound of the wait below: only noticing the refusal ends it in time.
  const int code = RunProgram(LOADGEN_BIN,
                              {"updates", "--ms-port", std::to_string(server.ports().msg_server),
                               "--http-port", std::to_string(server.ports().http), "--conns", "2",
                               "--updates", "1000", "--timeout", "120"},
                              &output, 30s);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_NE(code, -1) << "loadgen still running after 30 s: it did not notice the refusal\n"
                      << output;
  EXPECT_EQ(code, 1) << output;
  EXPECT_LT(took, 30s);
  EXPECT_NE(output.find("RESULT scenario=updates error=1"), std::string::npos) << output;
  EXPECT_NE(output.find("loadgen updates: subject 0: the server closed the connection"),
            std::string::npos)
      << output;
}

TEST(LoadgenTest, HoldFailsPromptlyWhenTheServerClosesItsConnection) {
  ServerProcess server("MaxMsgServerConnectionsPerAddress=1\n");
  ASSERT_TRUE(server.started()) << server.log();
  // The only connection the address may hold, taken first, so loadgen's is refused.
  FakeMsgServer first(server.ports().msg_server);
  ASSERT_TRUE(first.Register(MsgServerFields{}));
  ASSERT_TRUE(Eventually([&] {
    const auto r = HttpGetMsgServer(server.ports().http);
    return r && r->body.find("\"code\":0") != std::string::npos;
  })) << "the first msg_server never registered";
  std::string output;
  const int code = RunProgram(
      LOADGEN_BIN,
      {"hold", "--ms-port", std::to_string(server.ports().msg_server), "--max-seconds", "120"},
      &output, 30s);
  ASSERT_NE(code, -1) << "loadgen hold still running after 30 s\n" << output;
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("loadgen hold: the msg_server: the server closed the connection"),
            std::string::npos)
      << output;
}

}  // namespace
}  // namespace ttlogin::test
