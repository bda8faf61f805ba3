// Fuzz target: the whole msg_server path, bytes -> MsgServerSession -> MsgServerRegistry, with up
// to four sessions interleaved over one registry.
//
// Input: [config][ops...]. Each op picks a session and either feeds it raw bytes or a well-formed
// PDU built from fuzzer-chosen fields (split at a fuzzer-chosen size), or ends its link (OnClosed)
// or destroys it without OnClosed (server shutdown). A reference model reads each session's whole
// byte stream on its own (no FrameDecoder) and applies the protocol's rules; after every op the
// registry must hold exactly the model's entries and counts:
//  - counts change only by the PDUs' effects, never below zero and never wrapping;
//  - no entry without a live, registered session (after OnClosed or destruction it is gone);
//  - Stats() agrees with Snapshot(), and Choose() picks an eligible entry of least count;
//  - a registration with a bad port, host_name or ip1/ip2 closes its link and changes nothing;
//  - one entry per host_name:port: sessions 0 and 2 share a peer address, as do 1 and 3; a claim
//    of a name another session holds displaces it when the addresses match (that session's next
//    read ends it) and is refused (the link closes) when they differ (nobody is silent for two
//    heartbeat intervals within one input).
// At the end every session goes and the registry must be empty.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "IM.Server.pb.h"
#include "common/protocol.h"
#include "server/session/msg_server_session.h"
#include "test/fuzz/fuzz_support.h"
#include "tools/common/peer_pdu.h"

namespace ttlogin::fuzz {
namespace {

constexpr std::size_t kSessions = 4;
constexpr std::array<std::uint32_t, 2> kMaxPduSizes = {common::kMinMaxPduSize,
                                                       common::kDefaultMaxPduSize};

struct Slot {
  std::unique_ptr<server::MsgServerSession> session;
  // The model: the stream so far, how far it has been read, and the entry it should have.
  std::string stream;
  std::size_t pos = 0;
  bool registered = false;
  bool displaced = false;  // another session took its name: its next read must end it
  registry::MsgServerInfo info;
};

// The model's own reading of what a registration may say (docs/OPERATIONS.md), written apart
// from CheckRegistration so that a slip in either shows up as a disagreement.
bool ModelAddress(const std::string& s) {
  unsigned char buf[16];
  if (s.find('\0') == std::string::npos &&
      (inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1)) {
    return true;
  }
  std::string name = s;
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  char prev = '.';
  for (const char c : name + ".") {
    if (c == '.') {
      if (label == 0 || label > 63 || prev == '-') return false;
      label = 0;
    } else {
      const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
      if (!ok || (label == 0 && c == '-')) return false;
      ++label;
    }
    prev = c;
  }
  // A last label of digits only is a malformed IPv4 address, not a name.
  const std::string last = name.substr(name.rfind('.') + 1);  // npos + 1 == 0: the whole name
  return !std::all_of(last.begin(), last.end(),
                      [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

bool ModelAcceptable(const registry::MsgServerInfo& info) {
  return info.port >= 1 && info.port <= 65535 && !info.host_name.empty() &&
         info.host_name.size() <= 255 && ModelAddress(info.ip1) && ModelAddress(info.ip2);
}

class Run {
 public:
  Run(std::uint32_t max_pdu, std::size_t shards, std::size_t max_servers)
      : max_pdu_(max_pdu), max_servers_(max_servers), h_(max_pdu, shards, max_servers) {
    for (std::size_t i = 0; i < kSessions; ++i)
      Fresh(i);
  }

  void Feed(std::size_t i, std::span<const std::uint8_t> bytes) {
    Slot& s = slots_[i];
    const common::SessionVerdict verdict = s.session->OnBytes(bytes);
    const bool model_close = s.displaced || ModelFeed(i, bytes);
    FUZZ_CHECK(verdict.closes() == model_close);
    // A msg_server is never answered: a close is a plain close, always with its reason.
    FUZZ_CHECK(verdict.action != common::SessionVerdict::Action::kReplyThenClose);
    FUZZ_CHECK(verdict.closes() == (verdict.reason != common::CloseReason::kNone));
    if (verdict.closes()) {
      // What MsgServerConnection does: the link ends, the entry and its users leave.
      s.session->OnClosed(common::CloseReasonText(verdict.reason));
      FUZZ_CHECK(!s.session->registered());
      Fresh(i);
    }
    Check();
  }

  // The peer went away (FIN, reset or timeout): the connection calls OnClosed.
  void Close(std::size_t i) {
    slots_[i].session->OnClosed("fuzz close");
    FUZZ_CHECK(!slots_[i].session->registered());
    Fresh(i);
    Check();
  }

  // The server shut down: the session goes without OnClosed; its destructor must clean up.
  void Destroy(std::size_t i) {
    Fresh(i);
    Check();
  }

  void End() {
    for (std::size_t i = 0; i < kSessions; ++i)
      slots_[i].session.reset();
    const auto stats = h_.registry.Stats();
    FUZZ_CHECK(stats.registered == 0);
    FUZZ_CHECK(stats.users == 0);
    FUZZ_CHECK(h_.registry.Snapshot().empty());
    FUZZ_CHECK(h_.registry.Choose().code == registry::ChooseCode::kNoMsgServer);
  }

 private:
  void Fresh(std::size_t i) {
    Slot& s = slots_[i];
    s.session.reset();  // before the replacement exists, as a real connection is gone first
    s.stream.clear();
    s.pos = 0;
    s.registered = false;
    s.displaced = false;
    s.info = {};
    s.session = std::make_unique<server::MsgServerSession>(h_.context, Peer(i));
  }

  // Sessions 0 and 2 come from one address, 1 and 3 from another.
  static std::string Peer(std::size_t i) {
    return "127.0.0." + std::to_string(1 + i % 2) + ":" + std::to_string(1000 + i);
  }

  std::size_t ModelRegistered() const {
    std::size_t n = 0;
    for (const auto& s : slots_)
      n += s.registered ? 1 : 0;
    return n;
  }

  // The protocol's rules, read straight off docs/PROTOCOL.md and the session's header comment.
  // Returns true when the link must close.
  bool ModelFeed(std::size_t self, std::span<const std::uint8_t> bytes) {
    Slot& s = slots_[self];
    s.stream.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const auto* base = reinterpret_cast<const std::uint8_t*>(s.stream.data());
    while (s.stream.size() - s.pos >= 4) {
      const std::uint32_t len = Be32(base + s.pos);
      if (len < common::kPduHeaderSize || len > max_pdu_) return true;
      if (s.stream.size() - s.pos < len) break;
      const std::uint16_t sid = Be16(base + s.pos + 8);
      const std::uint16_t cid = Be16(base + s.pos + 10);
      const auto* body = base + s.pos + common::kPduHeaderSize;
      const int body_len = static_cast<int>(len - common::kPduHeaderSize);
      s.pos += len;
      if (sid != 7) continue;
      if (cid == 0x0709) {
        IM::Server::IMMsgServInfo msg;
        if (!msg.ParseFromArray(body, body_len)) return true;
        const registry::MsgServerInfo info{msg.ip1(),          msg.ip2(),          msg.port(),
                                           msg.max_conn_cnt(), msg.cur_conn_cnt(), msg.host_name()};
        if (!ModelAcceptable(info)) return true;
        for (std::size_t o = 0; o < kSessions; ++o) {
          Slot& other = slots_[o];
          if (o == self || !other.registered || other.info.host_name != info.host_name ||
              other.info.port != info.port) {
            continue;
          }
          if (o % 2 != self % 2) return true;  // another address, heard from recently: refused
          other.registered = false;            // the same address: its entry is replaced
          other.displaced = true;
        }
        if (!s.registered && max_servers_ != 0 && ModelRegistered() >= max_servers_) return true;
        s.registered = true;
        s.info = info;
      } else if (cid == 0x070b) {
        IM::Server::IMUserCntUpdate msg;
        if (!msg.ParseFromArray(body, body_len)) return true;
        if (!s.registered) continue;
        std::uint32_t& cur = s.info.cur_conn_cnt;
        if (msg.user_action() == 1 && cur != std::numeric_limits<std::uint32_t>::max()) ++cur;
        if (msg.user_action() == 2 && cur != 0) --cur;
      }
    }
    return false;
  }

  void Check() {
    const auto stats = h_.registry.Stats();
    const auto snapshot = h_.registry.Snapshot();
    std::size_t registered = 0;
    std::size_t eligible = 0;
    std::uint64_t users = 0;
    std::optional<std::uint32_t> least;
    std::set<std::pair<std::string, std::uint32_t>> names;
    for (const Slot& s : slots_) {
      // A displaced session still holds its old handle until its next read; the entry is gone.
      FUZZ_CHECK(s.session->registered() == (s.registered || s.displaced));
      if (s.displaced) FUZZ_CHECK(!h_.registry.Live(s.session->handle()));
      if (!s.registered) continue;
      FUZZ_CHECK(names.emplace(s.info.host_name, s.info.port).second);
      ++registered;
      users += s.info.cur_conn_cnt;
      const auto got = h_.registry.Get(s.session->handle());
      FUZZ_CHECK(got.has_value());
      FUZZ_CHECK(got->ip1 == s.info.ip1 && got->ip2 == s.info.ip2);
      FUZZ_CHECK(got->port == s.info.port && got->host_name == s.info.host_name);
      FUZZ_CHECK(got->max_conn_cnt == s.info.max_conn_cnt);
      FUZZ_CHECK(got->cur_conn_cnt == s.info.cur_conn_cnt);
      if (s.info.cur_conn_cnt < s.info.max_conn_cnt) {
        ++eligible;
        if (!least || s.info.cur_conn_cnt < *least) least = s.info.cur_conn_cnt;
      }
    }
    // Every entry belongs to a live session: the registry holds exactly the model's entries.
    FUZZ_CHECK(stats.registered == registered);
    FUZZ_CHECK(snapshot.size() == registered);
    FUZZ_CHECK(stats.users == users);
    FUZZ_CHECK(stats.eligible == eligible);
    std::uint64_t snapshot_users = 0;
    for (const auto& e : snapshot) {
      snapshot_users += e.info.cur_conn_cnt;
      bool owned = false;
      for (const Slot& s : slots_)
        owned |= s.registered && s.session->handle() == e.handle;
      FUZZ_CHECK(owned);
    }
    FUZZ_CHECK(snapshot_users == stats.users);

    const registry::Choice choice = h_.registry.Choose();
    if (registered == 0) {
      FUZZ_CHECK(choice.code == registry::ChooseCode::kNoMsgServer);
    } else if (eligible == 0) {
      FUZZ_CHECK(choice.code == registry::ChooseCode::kAllFull);
    } else {
      FUZZ_CHECK(choice.code == registry::ChooseCode::kOk);
      const auto chosen = h_.registry.Get(choice.handle);
      FUZZ_CHECK(chosen.has_value());
      FUZZ_CHECK(chosen->cur_conn_cnt == *least);
      FUZZ_CHECK(chosen->ip1 == choice.ip1 && chosen->port == choice.port);
    }
  }

  std::uint32_t max_pdu_;
  std::size_t max_servers_;
  Harness h_;
  std::array<Slot, kSessions> slots_;
};

// Mostly values a registration may carry, from small sets so names collide between sessions;
// sometimes fuzzer-chosen strings and ports (most of them refused).
std::string AddressFromInput(FuzzInput& in) {
  static const std::array<const char*, 7> kAddresses = {
      "10.0.0.1",     "2001:db8::1", "msg1.example.com", "a-b.c",
      "-bad.example", "10.0.0.1:80", "256.1.1.1"};
  const std::uint8_t pick = in.U8();
  if (pick < 192) return kAddresses[pick % kAddresses.size()];
  if (pick < 224) return std::string(in.U8() % 2 == 0 ? 253 : 254, 'a');
  return in.String(20);
}

std::string ServInfoFromInput(FuzzInput& in) {
  peer::MsgServerInfo info;
  info.ip1 = AddressFromInput(in);
  info.ip2 = AddressFromInput(in);
  const std::uint8_t port_mode = in.U8();
  info.port = port_mode < 200 ? 8000 + port_mode % 2 : port_mode < 240 ? in.U16() : in.U32();
  // Mostly small counts (so increments reach max), sometimes the extremes (wrap at 2^32-1).
  const std::uint8_t mode = in.U8();
  info.max_conn_cnt = (mode & 1) != 0 ? in.U32() : in.U8() % 8;
  info.cur_conn_cnt = (mode & 2) != 0 ? in.U32() : in.U8() % 8;
  const std::uint8_t host_mode = in.U8();
  info.host_name = host_mode < 200   ? std::string("msg-") + static_cast<char>('a' + host_mode % 3)
                   : host_mode < 216 ? std::string(255 + host_mode % 2, 'h')
                                     : in.String(16);
  return peer::ServInfoPdu(info, in.U16());
}

// Feeds `pdus` in pieces of a fuzzer-chosen size (0: all at once), as TCP may deliver them.
void FeedSplit(Run& run, std::size_t i, const std::string& pdus, std::size_t piece) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(pdus.data());
  if (piece == 0) piece = pdus.size();
  for (std::size_t at = 0; at < pdus.size(); at += piece)
    run.Feed(i, {p + at, std::min(piece, pdus.size() - at)});
}

}  // namespace
}  // namespace ttlogin::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ttlogin;
  using namespace ttlogin::fuzz;
  UseSilentLogger();
  FuzzInput in(data, size);
  const std::uint8_t setup = in.U8();
  Run run(kMaxPduSizes[setup & 1], 1 + ((setup >> 1) & 3), (setup >> 3) % 5);
  while (!in.empty()) {
    const std::uint8_t op = in.U8();
    const std::size_t i = op % kSessions;
    switch ((op >> 2) % 8) {
      case 0: {
        const std::size_t n = in.U8();
        run.Feed(i, in.Bytes(n));
        break;
      }
      case 1:
      case 2:
      case 3: {
        // The PDU is read from the input before the split size, in separate statements: the
        // order in which a compiler evaluates arguments is unspecified, and an input must mean
        // the same to the fuzz build (clang) and the replay in every build (gcc).
        const std::string pdu =
            (op >> 2) % 8 == 1 ? ServInfoFromInput(in)
                               : peer::UserCntUpdatePdu((op >> 2) % 8 == 2 ? common::kUserActionInc
                                                                           : common::kUserActionDec,
                                                        in.U8());
        FeedSplit(run, i, pdu, in.U8() % 24);
        break;
      }
      case 4: {
        // A burst of pipelined updates in one read; each bit of the pattern is +1 or -1, and an
        // odd user_action now and then.
        std::string burst;
        const int n = in.U8() % 64;
        const std::uint32_t pattern = in.U32();
        for (int k = 0; k < n; ++k) {
          const std::uint32_t action = (k % 29 == 28) ? in.U8() : ((pattern >> (k % 32)) & 1) + 1;
          peer::AppendUserCntUpdatePdu(burst, action, static_cast<std::uint32_t>(k));
        }
        FeedSplit(run, i, burst, in.U8() % 64);
        break;
      }
      case 5:
        FeedSplit(run, i, peer::HeartbeatPdu(), in.U8() % 20);
        break;
      case 6:
        run.Close(i);
        break;
      case 7:
        run.Destroy(i);
        break;
    }
  }
  run.End();
  return 0;
}
