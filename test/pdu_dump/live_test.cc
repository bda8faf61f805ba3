// Live capture (-i): the permission error path, and decoding real loopback traffic of the login
// server when the test may capture.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "test/pdu_dump/decode_helpers.h"
#include "test/pdu_dump/tool_process.h"
#include "test/support/fake_peers.h"
#include "test/support/server_process.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using namespace testing;  // NOLINT: the fixture helpers
using std::chrono::seconds;

// The conventional unprivileged account.
constexpr int kNobody = 65534;

TEST(Live, WithoutCaptureRightsExitsWith4AndSaysWhy) {
  // As root, drop to nobody in the child; otherwise the test user has no rights to begin with.
  const bool root = geteuid() == 0;
  ToolProcess p({"-i", "lo"}, "", root ? kNobody : -1, root ? kNobody : -1);
  const int code = p.Wait(seconds(10));
  if (root && code == 127) {
    // exec failed: the build tree (e.g. a clone under a 0700 mktemp directory) is not reachable
    // by nobody, so this environment cannot show an unprivileged run.
    GTEST_SKIP() << "pdu_dump is not executable by uid " << kNobody << " from this build tree";
  }
  EXPECT_EQ(code, 4) << p.err();
  EXPECT_NE(p.err().find("no permission to capture on lo"), std::string::npos) << p.err();
  EXPECT_NE(p.err().find("setcap"), std::string::npos) << "the message says how to fix it";
}

TEST(Live, BadBpfFilterIsAUsageError) {
  if (geteuid() != 0) GTEST_SKIP() << "needs capture rights to get as far as the filter";
  const ToolRun r = RunPduDump({"-i", "lo", "this", "is", "not", "bpf"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("BPF filter 'this is not bpf'"), std::string::npos) << r.err;
}

TEST(Live, DecodesTheLoginServersLoopbackTraffic) {
  if (geteuid() != 0) GTEST_SKIP() << "live capture needs root or CAP_NET_RAW";
  test::ServerProcess server;
  ASSERT_TRUE(server.started()) << server.log();
  const std::string port = std::to_string(server.ports().msg_server);
  ToolProcess dump({"--json", "-i", "lo", "--port", port, "-c", "4"});
  ASSERT_TRUE(dump.WaitForStderr("listening on lo", seconds(10))) << dump.err();
  test::FakeMsgServer ms(server.ports().msg_server);
  test::MsgServerFields fields;
  fields.host_name = "live";
  ASSERT_TRUE(ms.Register(fields));
  ASSERT_TRUE(ms.Inc(3, 100));
  ASSERT_EQ(dump.Wait(seconds(10)), 0) << dump.err();
  const auto lines = ParseLines(dump.out());
  ASSERT_EQ(lines.size(), 4u) << dump.out();
  EXPECT_EQ(lines[0]["name"], "IM.Server.IMMsgServInfo");
  EXPECT_EQ(lines[0]["body"]["host_name"], "live");
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(lines[i]["body"]["user_id"], 99 + i);
    EXPECT_EQ(lines[i]["dst"], "127.0.0.1:" + port);
  }
}

// Packets that arrive while pdu_dump is not reading wait in the kernel's capture buffer. A burst
// of 100 PDUs (a registration and 99 updates), each its own segment, sent while pdu_dump is
// stopped: the default buffer keeps every one; a 256 KiB buffer (two loopback packets) cannot, and
// pdu_dump says how many packets were dropped and exits 1 instead of presenting an incomplete
// capture as clean.
TEST(Live, PacketsQueuedWhileDumpIsStoppedAreKeptOrTheDropIsReported) {
  if (geteuid() != 0) GTEST_SKIP() << "live capture needs root or CAP_NET_RAW";
  test::ServerProcess server;
  ASSERT_TRUE(server.started()) << server.log();
  const std::string port = std::to_string(server.ports().msg_server);
  constexpr int kBurst = 100;
  for (const bool small : {false, true}) {
    std::vector<std::string> args{"--json", "-i", "lo", "--port", port};
    if (small) args.insert(args.end(), {"-B", "256"});
    ToolProcess dump(args);
    ASSERT_TRUE(dump.WaitForStderr("listening on lo", seconds(10))) << dump.err();
    dump.Signal(SIGSTOP);
    test::TcpClient conn(server.ports().msg_server);
    ASSERT_TRUE(conn.connected());
    const int one = 1;
    ASSERT_EQ(setsockopt(conn.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
    test::MsgServerFields fields;
    ASSERT_TRUE(conn.Send(test::ServInfoPdu(fields)));
    for (int i = 1; i < kBurst; ++i) {
      ASSERT_TRUE(conn.Send(test::UserCntUpdatePdu(1, static_cast<std::uint32_t>(i))));
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // one segment each
    }
    conn.Close();
    dump.Signal(SIGCONT);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    dump.Signal(SIGINT);
    const int code = dump.Wait(seconds(10));
    const auto lines = ParseLines(dump.out());
    if (small) {
      EXPECT_EQ(code, 1) << dump.err();
      EXPECT_NE(dump.err().find("the kernel dropped"), std::string::npos) << dump.err();
      EXPECT_LT(lines.size(), static_cast<std::size_t>(kBurst));
    } else {
      EXPECT_EQ(code, 0) << dump.err();
      EXPECT_EQ(dump.err().find("dropped"), std::string::npos) << dump.err();
      EXPECT_EQ(lines.size(), static_cast<std::size_t>(kBurst)) << dump.err();
    }
  }
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump
