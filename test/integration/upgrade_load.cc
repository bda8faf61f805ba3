#include "test/integration/upgrade_load.h"

#include <random>

#include <nlohmann/json.hpp>

#include "IM.Login.pb.h"
#include "test/support/live_upgrade.h"

namespace ttlogin::test {
namespace {

// Long enough for a handover on a loaded machine; an answer later than this is a failure.
constexpr milliseconds kAnswerWait{10000};
// Each load thread pauses this long between requests, so that the load leaves the two shared
// cores some room for the servers being upgraded; it still makes a thousand requests a second.
constexpr std::chrono::microseconds kPace{250};

}  // namespace

bool AnswersCodeZero(const HttpResponse& resp) {
  const auto body = nlohmann::json::parse(resp.body, nullptr, false);
  return resp.status == 200 && body.is_object() && body.value("code", -1) == 0;
}

std::optional<std::map<std::string, std::int64_t>> ServerCounts(std::uint16_t admin_port,
                                                                const std::string& token) {
  const auto r = AdminRequest(admin_port, "GET", "/servers", token);
  if (!r || r->status != 200) return std::nullopt;
  const auto list = nlohmann::json::parse(r->body, nullptr, false);
  if (!list.is_array()) return std::nullopt;
  std::map<std::string, std::int64_t> counts;
  for (const auto& e : list) {
    if (!e.is_object() || !e.contains("host_name") || !e.contains("cur")) return std::nullopt;
    counts[e["host_name"].get<std::string>()] = e["cur"].get<std::int64_t>();
  }
  return counts;
}

void LoadTally::Failed(const std::string& note) {
  failed_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  if (notes_.size() < kMaxNotes) notes_.push_back(note);
}

std::string LoadTally::notes() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& n : notes_)
    out += n + "\n";
  return out;
}

HttpKeepAliveLoad::HttpKeepAliveLoad(std::uint16_t port, int connections) {
  for (int i = 0; i < connections; ++i)
    threads_.emplace_back([this, port] { Run(port); });
}

void HttpKeepAliveLoad::Stop() {
  stop_ = true;
  for (auto& t : threads_)
    t.join();
  threads_.clear();
}

void HttpKeepAliveLoad::Run(std::uint16_t port) {
  peer::TcpPeer conn;
  while (!stop_.load()) {
    if (!conn.connected() && !conn.Connect(port)) {
      tally_.Failed("http connect: " + conn.last_result().Describe());
      std::this_thread::sleep_for(milliseconds(10));
      continue;
    }
    if (!conn.Send(kGetMsgServerKeepAlive)) {
      tally_.Failed("http send on a keep-alive connection: " + conn.last_result().Describe());
      conn.Close();
      continue;
    }
    std::string why;
    const auto resp = ReadOneResponse(conn, &why, kAnswerWait);
    if (!resp) {
      tally_.Failed("http keep-alive: " + why);
      conn.Close();
      continue;
    }
    if (!AnswersCodeZero(*resp)) {
      tally_.Failed("http answer " + std::to_string(resp->status) + " " + resp->body);
    } else {
      tally_.Served();
    }
    if (auto it = resp->headers.find("connection");
        it != resp->headers.end() && it->second == "close") {
      closes_announced_.fetch_add(1);
      conn.Close();
    }
    std::this_thread::sleep_for(kPace);
  }
}

ClientPortLoad::ClientPortLoad(std::uint16_t port, int workers) {
  for (int i = 0; i < workers; ++i)
    threads_.emplace_back([this, port, i] { Run(port, i); });
}

void ClientPortLoad::Stop() {
  stop_ = true;
  for (auto& t : threads_)
    t.join();
  threads_.clear();
}

void ClientPortLoad::Run(std::uint16_t port, int worker) {
  std::uint16_t seq = static_cast<std::uint16_t>(worker * 1000);
  while (!stop_.load()) {
    ++seq;
    peer::TcpPeer conn;
    if (!conn.Connect(port)) {
      tally_.Failed("client connect: " + conn.last_result().Describe());
      std::this_thread::sleep_for(milliseconds(10));
      continue;
    }
    if (!conn.Send(peer::MsgServReqPdu(seq))) {
      tally_.Failed("client send: " + conn.last_result().Describe());
      continue;
    }
    const auto pdu = conn.ReadPdu(kAnswerWait);
    if (!pdu) {
      tally_.Failed("client answer: " + conn.last_result().Describe());
      continue;
    }
    IM::Login::IMMsgServRsp rsp;
    if (!rsp.ParseFromString(pdu->body) || pdu->header.seq_num != seq || rsp.result_code() != 0) {
      tally_.Failed("client answer: seq " + std::to_string(pdu->header.seq_num) + " for " +
                    std::to_string(seq) + ", result " + std::to_string(rsp.result_code()));
      continue;
    }
    tally_.Served();
    conn.Close();
    std::this_thread::sleep_for(kPace);
  }
}

MsgServerFleet::MsgServerFleet(std::uint16_t port, int count)
    : expected_(static_cast<std::size_t>(count), 0), lost_(static_cast<std::size_t>(count), false) {
  for (int i = 0; i < count; ++i) {
    auto s = std::make_unique<peer::MsgServerClient>();
    peer::MsgServerInfo info;
    info.host_name = HostName(i);
    info.port = 9000 + static_cast<std::uint32_t>(i);
    info.ip1 = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    info.max_conn_cnt = 1'000'000;
    if (const auto r = s->Connect(port); !r.ok()) {
      tally_.Failed(info.host_name + " connect: " + r.Describe());
      registered_ = false;
    } else if (const auto reg = s->Register(info); !reg.ok()) {
      tally_.Failed(info.host_name + " register: " + reg.Describe());
      registered_ = false;
    }
    servers_.push_back(std::move(s));
  }
}

std::string MsgServerFleet::HostName(int i) {
  char name[16];
  std::snprintf(name, sizeof name, "msg-%03d", i);
  return name;
}

void MsgServerFleet::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void MsgServerFleet::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void MsgServerFleet::Check(std::size_t i) {
  if (lost_[i]) return;
  const peer::IoResult r = servers_[i]->ReadInput(peer::MsgServerClient::OnHeartbeat::kAnswer);
  if (!r.ok()) {
    lost_[i] = true;
    tally_.Failed(HostName(static_cast<int>(i)) + " lost its connection: " + r.Describe());
  }
}

void MsgServerFleet::CheckConnections() {
  for (std::size_t i = 0; i < servers_.size(); ++i)
    Check(i);
}

void MsgServerFleet::Run() {
  std::mt19937 rng(12345);
  // A batch of updates per fake per round, then a short pause: a steady stream of a few thousand
  // updates a second that a two-core machine carries alongside the other load.
  constexpr int kRoundsBetweenChecks = 20;
  std::uint32_t next_user = 1;
  for (int round = 0; !stop_.load(); ++round) {
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      if (lost_[i]) continue;
      const bool dec = expected_[i] > 0 && (rng() % 2 == 0);
      const int n = 1 + static_cast<int>(rng() % 3);
      const int take = dec ? static_cast<int>(std::min<std::int64_t>(n, expected_[i])) : n;
      const peer::IoResult r =
          dec ? servers_[i]->Dec(take, next_user) : servers_[i]->Inc(take, next_user);
      next_user += static_cast<std::uint32_t>(take);
      if (!r.ok()) {
        lost_[i] = true;
        tally_.Failed(HostName(static_cast<int>(i)) + " could not send: " + r.Describe());
        continue;
      }
      expected_[i] += dec ? -take : take;
      for (int k = 0; k < take; ++k)
        tally_.Served();
    }
    if (round % kRoundsBetweenChecks == 0) CheckConnections();
    std::this_thread::sleep_for(milliseconds(5));
  }
  CheckConnections();
}

}  // namespace ttlogin::test
