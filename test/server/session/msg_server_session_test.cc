#include "server/session/msg_server_session.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include "IM.Server.pb.h"
#include "common/protocol.h"
#include "server/admin/prometheus_text.h"
#include "tools/common/peer_pdu.h"

namespace ttlogin::server {
namespace {

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string Info(const std::string& ip1, std::uint32_t cur, std::uint32_t max = 100,
                 const std::string& host = "msg-a", std::uint32_t port = 8000,
                 const std::string& ip2 = "10.0.1.1") {
  return peer::ServInfoPdu(peer::MsgServerInfo{ip1, ip2, port, max, cur, host});
}

std::string Update(std::uint32_t action) {
  return peer::UserCntUpdatePdu(action, 1);
}

// An IMUserCntUpdate PDU around a hand-made body (for encodings protobuf would not write).
std::string UpdateWithBody(const std::string& body) {
  common::PduHeader h;
  h.length = static_cast<std::uint32_t>(common::kPduHeaderSize + body.size());
  h.service_id = common::kSidOther;
  h.command_id = common::kCidOtherUserCntUpdate;
  std::array<std::uint8_t, common::kPduHeaderSize> header{};
  common::EncodePduHeader(h, header);
  return std::string(header.begin(), header.end()) + body;
}

common::LoginServerConfig Config(const std::string& client_ip) {
  common::LoginServerConfig c;
  c.client.addresses = {client_ip};
  c.http.addresses = {"127.0.0.1"};
  return c;
}

class SessionTest : public testing::Test {
 protected:
  explicit SessionTest(const std::string& client_ip = "127.0.0.1")
      : live_(Config(client_ip)), context_{live_, registry_, metrics_} {}
  LiveConfig live_;
  registry::MsgServerRegistry registry_;
  Metrics metrics_;
  ServerContext context_;
};

TEST_F(SessionTest, RegisterUpdateAndCloseDriveTheRegistry) {
  MsgServerSession s(context_, "peer");
  EXPECT_FALSE(s.OnBytes(Bytes(Info("10.0.0.1", 2) + Update(1) + Update(1) + Update(2))).closes());
  ASSERT_TRUE(s.registered());
  EXPECT_EQ(registry_.Get(s.handle())->cur_conn_cnt, 3u);
  EXPECT_EQ(metrics_.Get(Counter::kRegistryUpdates), 3u);
  s.OnClosed("test");
  EXPECT_EQ(registry_.Stats().registered, 0u);
  EXPECT_EQ(metrics_.Get(Counter::kMsgServerRemoved), 1u);
}

TEST_F(SessionTest, ARunOfUpdatesInOneReadCountsEveryUpdate) {
  MsgServerSession s(context_, "peer");
  std::string bytes = Info("10.0.0.1", 5, 100000);
  for (int i = 0; i < 1000; ++i)
    bytes += Update(1);
  for (int i = 0; i < 300; ++i)
    bytes += Update(2);
  EXPECT_FALSE(s.OnBytes(Bytes(bytes)).closes());
  EXPECT_EQ(registry_.Get(s.handle())->cur_conn_cnt, 705u);
  EXPECT_EQ(metrics_.Get(Counter::kRegistryUpdates), 1300u);
  EXPECT_EQ(metrics_.Get(Counter::kPduUserCntUpdate), 1300u);
  EXPECT_EQ(metrics_.Get(Counter::kUpdateClamped), 0u);
}

TEST_F(SessionTest, EveryClampIsCountedWhenUpdatesArriveTogether) {
  MsgServerSession s(context_, "peer");
  // 1 -> 2 -> 1 -> 0 -> clamp -> clamp -> 1 -> 0 -> clamp -> 1
  std::string bytes = Info("10.0.0.1", 1) + Update(1);
  for (int a : {2, 2, 2, 2, 1, 2, 2, 1})
    bytes += Update(static_cast<std::uint32_t>(a));
  EXPECT_FALSE(s.OnBytes(Bytes(bytes)).closes());
  EXPECT_EQ(registry_.Get(s.handle())->cur_conn_cnt, 1u);
  EXPECT_EQ(metrics_.Get(Counter::kUpdateClamped), 3u);
  EXPECT_EQ(metrics_.Get(Counter::kRegistryUpdates), 9u);
}

TEST_F(SessionTest, ARegistrationInsideARunAppliesTheUpdatesBeforeIt) {
  MsgServerSession s(context_, "peer");
  EXPECT_FALSE(s.OnBytes(Bytes(Info("10.0.0.1", 0) + Update(1) + Update(1) + Update(1))).closes());
  // The second IMMsgServInfo replaces the entry (count 7); the updates after it count from there.
  EXPECT_FALSE(s.OnBytes(Bytes(Update(1) + Info("10.0.0.1", 7) + Update(2) + Update(2))).closes());
  EXPECT_EQ(registry_.Get(s.handle())->cur_conn_cnt, 5u);
  EXPECT_EQ(metrics_.Get(Counter::kRegistryUpdates), 6u);
}

TEST_F(SessionTest, UpdatesSplitAcrossReadsAtEveryByte) {
  MsgServerSession s(context_, "peer");
  std::string bytes = Info("10.0.0.1", 0);
  for (int i = 0; i < 20; ++i)
    bytes += Update(i % 3 == 2 ? 2 : 1);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_FALSE(s.OnBytes(Bytes(bytes.substr(i, 1))).closes());
  }
  EXPECT_EQ(registry_.Get(s.handle())->cur_conn_cnt, 8u);  // 14 up, 6 down
}

TEST_F(SessionTest, UnusualEncodingsOfAnUpdateAreDecodedByProtobuf) {
  MsgServerSession s(context_, "peer");
  EXPECT_FALSE(s.OnBytes(Bytes(Info("10.0.0.1", 0))).closes());
  const std::vector<std::string> increments = {
      std::string("\x08\x01\x10\x01", 4),                  // the usual shape
      std::string("\x10\x05\x08\x01", 4),                  // fields swapped
      std::string("\x08\x01\x10\xff\xff\xff\xff\x0f", 8),  // user_id 2^32-1
      std::string("\x08\x81\x00\x10\x01", 5),              // action in a padded varint
      std::string("\x08\x81\x80\x80\x80\x10\x10\x01", 8),  // action 2^32+1: protobuf keeps 1
      std::string("\x08\x02\x08\x01\x10\x01", 6),          // action twice: the last counts
      std::string("\x08\x01\x10\x01\x18\x07", 6),          // an unknown field 3
  };
  std::string bytes;
  for (const auto& body : increments)
    bytes += UpdateWithBody(body);
  EXPECT_FALSE(s.OnBytes(Bytes(bytes)).closes());
  EXPECT_EQ(registry_.Get(s.handle())->cur_conn_cnt, increments.size());
  EXPECT_EQ(metrics_.Get(Counter::kErrorBadBody), 0u);

  // Missing the required user_id: protobuf refuses it, and the link closes as before.
  const auto r = s.OnBytes(Bytes(UpdateWithBody(std::string("\x08\x01", 2))));
  EXPECT_EQ(r.action, common::SessionVerdict::Action::kClose);
  EXPECT_EQ(r.reason, common::CloseReason::kBadUserCntUpdate);
  EXPECT_EQ(registry_.Get(s.handle())->cur_conn_cnt, increments.size());
}

// The summed runs must end exactly where applying each update alone ends, clamps included.
TEST_F(SessionTest, RandomStreamsMatchOneByOneSemantics) {
  std::mt19937 rng(8);
  for (int round = 0; round < 50; ++round) {
    Metrics metrics;
    registry::MsgServerRegistry registry;
    ServerContext context{live_, registry, metrics};
    MsgServerSession s(context, "peer");
    const std::uint32_t start = rng() % 4;
    std::string bytes = Info("10.0.0.1", start, 1000);
    std::int64_t model = start;
    std::uint64_t clamps = 0;
    std::uint64_t applied = 0;
    for (int i = 0; i < 400; ++i) {
      const unsigned pick = rng() % 10;
      if (pick < 4) {
        bytes += Update(1);
        ++model;
        ++applied;
      } else if (pick < 9) {
        bytes += Update(2);
        ++applied;
        if (model == 0) {
          ++clamps;
        } else {
          --model;
        }
      } else {
        bytes += Update(9);  // unknown action: ignored
      }
    }
    for (std::size_t at = 0; at < bytes.size();) {
      const std::size_t n = std::min<std::size_t>(bytes.size() - at, 1 + rng() % 200);
      ASSERT_FALSE(s.OnBytes(Bytes(bytes.substr(at, n))).closes());
      at += n;
    }
    ASSERT_EQ(registry.Get(s.handle())->cur_conn_cnt, static_cast<std::uint64_t>(model));
    ASSERT_EQ(metrics.Get(Counter::kUpdateClamped), clamps);
    ASSERT_EQ(metrics.Get(Counter::kRegistryUpdates), applied);
  }
}

TEST_F(SessionTest, DestructionWithoutCloseStillLeavesTheRegistry) {
  {
    MsgServerSession s(context_, "peer");
    EXPECT_FALSE(s.OnBytes(Bytes(Info("10.0.0.1", 2))).closes());
    EXPECT_EQ(registry_.Stats().registered, 1u);
  }
  EXPECT_EQ(registry_.Stats().registered, 0u);
}

TEST_F(SessionTest, BadLengthAndBadBodyCloseWithAReason) {
  MsgServerSession a(context_, "a");
  const auto reason = a.OnBytes(Bytes(std::string(16, '\0')));
  EXPECT_EQ(reason.action, common::SessionVerdict::Action::kClose);
  EXPECT_EQ(reason.reason, common::CloseReason::kPduLengthBelowHeader);
  EXPECT_EQ(a.OnBytes(Bytes(Info("10.0.0.1", 0))).reason,
            common::CloseReason::kPduLengthBelowHeader);  // stays closed
  EXPECT_EQ(registry_.Stats().registered, 0u);

  MsgServerSession b(context_, "b");
  std::string bad = Update(1);
  bad.back() = '\xff';  // user_id varint now unterminated
  const auto r = b.OnBytes(Bytes(Info("10.0.0.1", 0) + bad));
  EXPECT_EQ(r.action, common::SessionVerdict::Action::kClose);
  EXPECT_EQ(r.reason, common::CloseReason::kBadUserCntUpdate);
}

TEST_F(SessionTest, UnknownActionIsIgnored) {
  MsgServerSession s(context_, "peer");
  EXPECT_FALSE(s.OnBytes(Bytes(Info("10.0.0.1", 1) + Update(3))).closes());
  EXPECT_EQ(registry_.Get(s.handle())->cur_conn_cnt, 1u);
  EXPECT_EQ(metrics_.Get(Counter::kUpdateBadAction), 1u);
}

TEST_F(SessionTest, RegistryFullRefusesAndCloses) {
  registry_.set_max_servers(1);
  MsgServerSession a(context_, "a"), b(context_, "b");
  EXPECT_FALSE(a.OnBytes(Bytes(Info("10.0.0.1", 0))).closes());
  const auto r = b.OnBytes(Bytes(Info("10.0.0.2", 0, 100, "msg-b")));
  EXPECT_EQ(r.action, common::SessionVerdict::Action::kClose);
  EXPECT_EQ(r.reason, common::CloseReason::kRegistryFull);
  EXPECT_EQ(metrics_.Get(Counter::kMsgServerRefused), 1u);
}

TEST_F(SessionTest, BadPortsAndAddressesAreRefusedCountedAndClose) {
  struct Case {
    std::string pdu;
    Counter counter;
  };
  const std::string label(64, 'a');
  const std::vector<Case> cases = {
      {Info("10.0.0.1", 0, 100, "msg-a", 0), Counter::kRegistrationBadPort},
      {Info("10.0.0.1", 0, 100, "msg-a", 70000), Counter::kRegistrationBadPort},
      {Info("10.0.0.1", 0, 100, "msg-a", 4294967295u), Counter::kRegistrationBadPort},
      {Info("10.0.0.1", 0, 100, std::string(256, 'h')), Counter::kRegistrationBadHostName},
      {Info("10.0.0.1", 0, 100, ""), Counter::kRegistrationBadHostName},
      {Info(std::string(20 * 1024, '1'), 0), Counter::kRegistrationBadAddress},
      {Info("10.0.0.1", 0, 100, "msg-a", 8000, label + ".example"),
       Counter::kRegistrationBadAddress},
      {Info("not an address", 0), Counter::kRegistrationBadAddress},
  };
  std::uint64_t expected[3] = {0, 0, 0};
  for (const Case& c : cases) {
    MsgServerSession s(context_, "10.0.0.9:1000");
    const auto r = s.OnBytes(Bytes(c.pdu));
    EXPECT_EQ(r.action, common::SessionVerdict::Action::kClose);
    EXPECT_EQ(r.reason, common::CloseReason::kRegistrationRefused);
    EXPECT_FALSE(s.registered());
    EXPECT_EQ(registry_.Stats().registered, 0u);
    ++expected[c.counter == Counter::kRegistrationBadPort       ? 0
               : c.counter == Counter::kRegistrationBadHostName ? 1
                                                                : 2];
  }
  EXPECT_EQ(metrics_.Get(Counter::kRegistrationBadPort), expected[0]);
  EXPECT_EQ(metrics_.Get(Counter::kRegistrationBadHostName), expected[1]);
  EXPECT_EQ(metrics_.Get(Counter::kRegistrationBadAddress), expected[2]);
  EXPECT_EQ(metrics_.Get(Counter::kMsgServerRegistered), 0u);
  // A host name of 255 bytes and a port of 65535 are fine.
  MsgServerSession ok(context_, "10.0.0.9:1001");
  EXPECT_FALSE(ok.OnBytes(Bytes(Info("10.0.0.1", 0, 100, std::string(255, 'h'), 65535))).closes());
  EXPECT_TRUE(ok.registered());
}

TEST_F(SessionTest, ABadReRegistrationEndsTheLinkAndItsEntry) {
  MsgServerSession s(context_, "10.0.0.9:1000");
  ASSERT_FALSE(s.OnBytes(Bytes(Info("10.0.0.1", 4))).closes());
  const auto r = s.OnBytes(Bytes(Info("10.0.0.1", 4, 100, "msg-a", 70000)));
  EXPECT_EQ(r.action, common::SessionVerdict::Action::kClose);
  EXPECT_EQ(r.reason, common::CloseReason::kRegistrationRefused);
  EXPECT_EQ(registry_.Get(s.handle())->port, 8000u);  // the refused values never reached it
  s.OnClosed(common::CloseReasonText(r.reason));
  EXPECT_EQ(registry_.Stats().registered, 0u);
}

TEST_F(SessionTest, AnotherAddressCannotTakeALiveHostAndPort) {
  MsgServerSession real(context_, "10.0.0.1:4000");
  ASSERT_FALSE(real.OnBytes(Bytes(Info("10.0.0.1", 10))).closes());
  MsgServerSession fake(context_, "192.0.2.66:5000");
  const auto r = fake.OnBytes(Bytes(Info("192.0.2.66", 0, 0xffffffffu)));
  EXPECT_EQ(r.action, common::SessionVerdict::Action::kClose);
  EXPECT_EQ(r.reason, common::CloseReason::kHostPortTaken);
  EXPECT_EQ(metrics_.Get(Counter::kRegistrationNameTaken), 1u);
  fake.OnClosed(common::CloseReasonText(r.reason));
  EXPECT_EQ(registry_.Stats().registered, 1u);
  const auto choice = registry_.Choose();
  EXPECT_EQ(choice.ip1, "10.0.0.1");
  EXPECT_FALSE(real.OnBytes(Bytes(Update(1))).closes());  // the real link goes on
  EXPECT_EQ(registry_.Get(real.handle())->cur_conn_cnt, 11u);
}

TEST_F(SessionTest, AReconnectFromTheSameAddressReplacesTheOldLinkWhichThenEnds) {
  MsgServerSession old_link(context_, "10.0.0.1:4000");
  ASSERT_FALSE(old_link.OnBytes(Bytes(Info("10.0.0.1", 10))).closes());
  MsgServerSession new_link(context_, "10.0.0.1:4001");
  ASSERT_FALSE(new_link.OnBytes(Bytes(Info("10.0.0.1", 2))).closes());
  EXPECT_EQ(metrics_.Get(Counter::kMsgServerDisplaced), 1u);
  EXPECT_EQ(registry_.Stats().registered, 1u);
  EXPECT_EQ(registry_.Stats().users, 2u);
  // The old link's next bytes end it, and its updates never reach the new entry.
  const auto r = old_link.OnBytes(Bytes(Update(1)));
  EXPECT_EQ(r.action, common::SessionVerdict::Action::kClose);
  EXPECT_EQ(r.reason, common::CloseReason::kEntryTakenOver);
  EXPECT_FALSE(old_link.registered());
  old_link.OnClosed(common::CloseReasonText(r.reason));
  EXPECT_EQ(registry_.Stats().registered, 1u);
  EXPECT_EQ(registry_.Get(new_link.handle())->cur_conn_cnt, 2u);
  EXPECT_EQ(metrics_.Get(Counter::kMsgServerRemoved), 0u);
}

TEST_F(SessionTest, AnotherAddressTakesOverASilentLink) {
  MsgServerSession old_link(context_, "10.0.0.1:4000");
  ASSERT_FALSE(old_link.OnBytes(Bytes(Info("10.0.0.1", 10))).closes());
  // Its connection was last heard from three heartbeat intervals ago (the default is 5 s).
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ASSERT_TRUE(registry_.Touch(old_link.handle(), now_ms - 15'000));
  MsgServerSession moved(context_, "10.0.0.7:4000");
  ASSERT_FALSE(moved.OnBytes(Bytes(Info("10.0.0.7", 0))).closes());
  EXPECT_TRUE(moved.registered());
  EXPECT_EQ(registry_.Choose().ip1, "10.0.0.7");
  // The old link ends as soon as it is heard again.
  const auto r = old_link.Heard(std::chrono::steady_clock::now());
  EXPECT_EQ(r.action, common::SessionVerdict::Action::kClose);
  EXPECT_EQ(r.reason, common::CloseReason::kEntryTakenOver);
}

TEST_F(SessionTest, OneHostAndPortMakesOneMetricsSeries) {
  std::vector<std::unique_ptr<MsgServerSession>> links;
  for (int i = 0; i < 3; ++i) {
    links.push_back(std::make_unique<MsgServerSession>(context_, "10.0.0.1:" + std::to_string(i)));
    ASSERT_FALSE(links.back()->OnBytes(Bytes(Info("10.0.0.1", 0))).closes());
  }
  const std::string text = admin::RenderPrometheus(metrics_, registry_, "test", 0);
  const std::string series = "ttlogin_msg_server_users{host=\"msg-a\",port=\"8000\"}";
  const std::size_t first = text.find(series);
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find(series, first + 1), std::string::npos);
  EXPECT_NE(text.find("ttlogin_msg_server_events_total{event=\"displaced\"} 2"), std::string::npos);
}

TEST_F(SessionTest, LoopbackAddressIsFineWhenClientsAreLocalToo) {
  MsgServerSession s(context_, "peer");
  EXPECT_FALSE(s.OnBytes(Bytes(Info("127.0.0.1", 0))).closes());
  EXPECT_TRUE(registry_.Snapshot()[0].meta.warning.empty());
}

class PublicSessionTest : public SessionTest {
 protected:
  PublicSessionTest() : SessionTest("0.0.0.0") {}
};

TEST_F(PublicSessionTest, LoopbackOrUnspecifiedAddressIsFlagged) {
  for (const char* ip : {"127.0.0.1", "0.0.0.0", "::1", "127.8.9.10"}) {
    MsgServerSession s(context_, "peer");
    EXPECT_FALSE(s.OnBytes(Bytes(Info(ip, 0))).closes());
    const auto snap = registry_.Snapshot();
    ASSERT_EQ(snap.size(), 1u);
    EXPECT_NE(snap[0].meta.warning.find("ip1 is a loopback"), std::string::npos) << ip;
    s.OnClosed("next");
  }
  MsgServerSession ok(context_, "peer");
  EXPECT_FALSE(ok.OnBytes(Bytes(Info("203.0.113.9", 0))).closes());
  EXPECT_TRUE(registry_.Snapshot()[0].meta.warning.empty());
}

// A live upgrade: the link's session moves to another process's registry with the half of a PDU
// it had received; the old session lets go of its entry without removing it.
TEST_F(SessionTest, ASessionCarriedToAnotherRegistryGoesOnWithItsHalfReceivedPdu) {
  const std::string update = Update(common::kUserActionInc);
  registry::MsgServerRegistry new_registry;
  Metrics new_metrics;
  ServerContext new_context{live_, new_registry, new_metrics};
  {
    MsgServerSession old_session(context_, "127.0.0.1:5000", 7);
    ASSERT_FALSE(old_session.OnBytes(Bytes(Info("10.0.0.1", 4) + Update(1))).closes());
    ASSERT_FALSE(old_session.OnBytes(Bytes(update.substr(0, 5))).closes());
    ASSERT_TRUE(old_session.carriable());
    EXPECT_EQ(old_session.link(), 7u);
    EXPECT_EQ(old_session.pending_frame().size(), 5u);

    registry::RegistryState state = registry_.ExportState();
    ASSERT_EQ(state.entries.size(), 1u);
    EXPECT_EQ(state.entries[0].handle, old_session.handle());
    const registry::ServerHandle handle = new_registry.ImportState(state).at(0);
    MsgServerSession new_session(new_context, "127.0.0.1:5000", old_session.link());
    const auto pending = old_session.pending_frame();
    new_session.Restore(handle, old_session.host_name(), old_session.known_count(),
                        old_session.last_touch(),
                        std::vector<std::uint8_t>(pending.begin(), pending.end()));
    old_session.Release();
    EXPECT_FALSE(old_session.registered());

    EXPECT_FALSE(new_session.OnBytes(Bytes(update.substr(5) + Update(1))).closes());
    EXPECT_EQ(new_registry.Get(handle)->cur_conn_cnt, 7u);
    EXPECT_EQ(new_registry.Snapshot().at(0).meta.link, 7u);
    EXPECT_EQ(new_metrics.Get(Counter::kRegistryUpdates), 2u);
    EXPECT_EQ(new_session.host_name(), "msg-a");
    new_session.OnClosed("test");
    EXPECT_EQ(new_registry.Stats().registered, 0u);
  }
  // The old registry still holds the entry the old session let go of, and nothing was removed.
  EXPECT_EQ(registry_.Stats().registered, 1u);
  EXPECT_EQ(metrics_.Get(Counter::kMsgServerRemoved), 0u);
}

}  // namespace
}  // namespace ttlogin::server
