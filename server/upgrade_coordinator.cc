#include "server/upgrade_coordinator.h"

#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <future>
#include <memory>
#include <optional>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "common/login_server_config.h"
#include "server/client_connection.h"
#include "server/connection_handover.h"
#include "server/http_connection.h"
#include "server/login_server.h"
#include "server/msg_server_connection.h"
#include "server/net/connection_timers.h"
#include "server/upgrade/child_process.h"
#include "server/upgrade/handover_channel.h"
#include "ttlogin_handover.pb.h"

namespace ttlogin::server {
namespace {

using SteadyClock = std::chrono::steady_clock;
using upgrade::HandoverChannel;
using upgrade::HandoverLimits;
using upgrade::HandoverMessage;
using upgrade::UniqueFd;

// What the old process accepts from the new one: small messages and no descriptors, so a new
// process writing garbage costs at most this much.
constexpr HandoverLimits kReplyLimits{.max_bytes = 1 << 20, .max_fds = 0};
// How long the old process waits, once the channel closed, for the new process's exit status
// (the reason a bad config or a crash gives in the log).
constexpr auto kExitStatusWait = std::chrono::milliseconds(500);
// How long the old process waits, at least, after the commit for the new one to confirm that the
// service manager knows it (it writes its ready file and notifies first: milliseconds).
constexpr auto kServingWait = std::chrono::seconds(2);
// How often the old process, after the commit, looks whether the requests it kept are done.
constexpr auto kFinishPoll = std::chrono::milliseconds(20);

double MsSince(SteadyClock::time_point t, SteadyClock::time_point now = SteadyClock::now()) {
  return std::chrono::duration<double, std::milli>(now - t).count();
}

std::string Send(HandoverChannel& channel, const handover::Envelope& envelope,
                 std::span<const int> fds, SteadyClock::time_point deadline) {
  std::string bytes;
  if (!envelope.SerializeToString(&bytes)) return "cannot encode a handover message";
  return channel.Send(bytes, fds, deadline);
}

// Receives one envelope; "" or why (the channel's reason, or bytes that are no handover message).
std::string Receive(HandoverChannel& channel, handover::Envelope& envelope,
                    SteadyClock::time_point deadline, const HandoverLimits& limits,
                    std::vector<UniqueFd>* fds = nullptr) {
  HandoverMessage message;
  if (std::string error = channel.Receive(message, deadline, limits); !error.empty()) return error;
  if (!envelope.ParseFromString(message.bytes) ||
      envelope.message_case() == handover::Envelope::MESSAGE_NOT_SET) {
    return "the peer sent " + std::to_string(message.bytes.size()) +
           " bytes that are not a handover message";
  }
  if (fds != nullptr) *fds = std::move(message.fds);
  return {};
}

void SendAbort(HandoverChannel& channel, const std::string& reason,
               SteadyClock::time_point deadline) {
  handover::Envelope envelope;
  envelope.mutable_abort()->set_reason(reason);
  // Best effort: the peer may be gone already, which is what the abort would tell it anyway.
  (void)Send(channel, envelope, {}, std::min(deadline, SteadyClock::now() + kExitStatusWait));
}

// Why the new process stopped answering: its exit status when it exited, the timeout, else the
// channel's reason.
std::string ChildFailure(HandoverChannel& channel, upgrade::ChildProcess& child,
                         const std::string& channel_error, const char* step,
                         SteadyClock::time_point deadline, std::chrono::seconds timeout) {
  if (channel.peer_closed()) {
    const auto until = SteadyClock::now() + kExitStatusWait;
    while (SteadyClock::now() < until) {
      if (auto status = upgrade::ChildExited(child)) {
        return "the new process " + *status + " " + step +
               (*status == "exited 2" ? " (its config does not load: see its log)" : "");
      }
      ::usleep(5000);
    }
    return "the new process closed the handover channel " + std::string(step);
  }
  if (SteadyClock::now() >= deadline) {
    return "no answer from the new process within UpgradeTimeout (" +
           std::to_string(timeout.count()) + " s), " + step;
  }
  return "the handover channel broke " + std::string(step) + ": " + channel_error;
}

// Every io loop parked on a task that blocks until the outcome is known. Each loop first lists
// the connections it may carry (only it touches them), then waits; on the commit it lets them go.
struct Parking {
  enum class Decision { kPending, kCommit, kAbort };
  struct Loop {
    std::vector<std::shared_ptr<Connection>> carried;
    std::vector<handover::ConnectionState> states;
    std::vector<registry::ServerHandle> entries;
    std::size_t kept = 0;  // connections that stay (mid-request, closing)
  };
  std::mutex mu;
  std::condition_variable cv;
  std::size_t parked = 0;
  std::size_t released = 0;
  Decision decision = Decision::kPending;
  std::vector<Loop> loops;
  std::vector<bool> arrived;

  void Decide(Decision d) {
    std::lock_guard lock(mu);
    if (decision == Decision::kPending) decision = d;
    cv.notify_all();
  }
};

void ParkLoop(const std::shared_ptr<Parking>& park, std::size_t index, asio::io_context& io) {
  Parking::Loop& loop = park->loops[index];
  asio::use_service<ConnectionTimers>(io).ForEachConnection([&](Connection& c) {
    handover::ConnectionState state;
    registry::ServerHandle entry;
    auto self = c.weak_from_this().lock();
    if (self && ExportConnection(c, state, entry)) {
      loop.carried.push_back(std::move(self));
      loop.states.push_back(std::move(state));
      loop.entries.push_back(entry);
    } else {
      ++loop.kept;
    }
  });
  std::unique_lock lock(park->mu);
  ++park->parked;
  park->arrived[index] = true;
  park->cv.notify_all();
  park->cv.wait(lock, [&] { return park->decision != Parking::Decision::kPending; });
  const bool commit = park->decision == Parking::Decision::kCommit;
  lock.unlock();
  if (commit) {
    for (const auto& c : loop.carried)
      HandOverConnection(*c);
    asio::use_service<ConnectionTimers>(io).ForEachConnection(
        [](Connection& c) { AnswerLastRequest(c); });
  }
  loop.carried.clear();  // on this loop: a connection may end here
  lock.lock();
  ++park->released;
  park->cv.notify_all();
}

}  // namespace

UpgradeCoordinator::UpgradeCoordinator(LoginServer& server, UpgradeCommand command)
    : server_(server), command_(std::move(command)) {}

UpgradeCoordinator::~UpgradeCoordinator() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) thread_.join();
}

void UpgradeCoordinator::Start(std::string trigger,
                               std::function<void(const admin::UpgradeOutcome&)> done) {
  std::lock_guard lock(mu_);
  if (running_.exchange(true)) {
    admin::UpgradeOutcome busy;
    busy.result = admin::UpgradeOutcome::Result::kBusy;
    busy.error = "a live upgrade is already running";
    spdlog::warn("live upgrade ({}) refused: one is already running", trigger);
    done(busy);
    return;
  }
  if (thread_.joinable()) thread_.join();  // the previous one, finished
  thread_ = std::thread([this, trigger = std::move(trigger), done = std::move(done)] {
    const admin::UpgradeOutcome outcome = Run(trigger);
    if (outcome.result != admin::UpgradeOutcome::Result::kUpgraded) {
      // Over before it is answered: whoever reads the failure and asks again at once is not
      // refused as busy.
      running_ = false;
      done(outcome);
      return;
    }
    // This process is on its way out: a second upgrade asked of it now stays refused.
    done(outcome);
    server_.FinishAfterHandover(static_cast<pid_t>(outcome.new_pid));
  });
}

admin::UpgradeOutcome UpgradeCoordinator::Run(const std::string& trigger) {
  const auto config = server_.live_config_.Snapshot();
  const auto started = SteadyClock::now();
  const auto deadline = started + config->upgrade_timeout;
  const std::string binary =
      config->upgrade_binary.empty() ? command_.binary : config->upgrade_binary;
  admin::UpgradeOutcome outcome;
  upgrade::ChildProcess child;
  HandoverChannel channel;
  std::shared_ptr<Parking> park;
  bool paused = false;

  auto fail = [&](const std::string& reason) {
    if (channel.fd() >= 0) SendAbort(channel, reason, deadline);
    upgrade::KillChild(child);
    if (park) {
      park->Decide(Parking::Decision::kAbort);
      // The loops go on serving; wait (briefly) only so their lists are dropped.
      std::unique_lock lock(park->mu);
      park->cv.wait_until(lock, SteadyClock::now() + std::chrono::seconds(1),
                          [&] { return park->released == park->parked; });
    }
    if (paused) asio::post(server_.accept_io_, [this] { server_.ResumeAcceptingAfterUpgrade(); });
    server_.metrics_.Add(Counter::kUpgradeFailures);
    spdlog::error("live upgrade failed: {}; serving on (pid {}, {:.0f} ms)", reason, ::getpid(),
                  MsSince(started));
    outcome.result = admin::UpgradeOutcome::Result::kFailed;
    outcome.error = reason;
    return outcome;
  };

  // 1. Start the new binary with one end of the channel.
  HandoverChannel theirs;
  if (std::string e = HandoverChannel::Pair(channel, theirs); !e.empty()) {
    return fail("cannot make the handover channel: " + e);
  }
  if (std::string e = upgrade::SpawnChild(binary, command_.args, theirs.fd(), child); !e.empty()) {
    return fail(e);
  }
  theirs = HandoverChannel();  // only the child holds that end now: its exit closes the channel
  spdlog::info("live upgrade ({}): started {} as pid {}; waiting for it to load its config",
               trigger, binary, child.pid);

  // 2. Hello: the new process is up and speaks our version.
  handover::Envelope hello;
  if (std::string e = Receive(channel, hello, deadline, kReplyLimits); !e.empty()) {
    return fail(
        ChildFailure(channel, child, e, "before its hello", deadline, config->upgrade_timeout));
  }
  if (hello.has_abort()) return fail("the new process gave up: " + hello.abort().reason());
  if (!hello.has_hello()) return fail("the new process did not start with a hello");
  if (hello.hello().protocol_version() != command_.protocol_version) {
    return fail("the new process speaks handover protocol version " +
                std::to_string(hello.hello().protocol_version()) + ", this one " +
                std::to_string(command_.protocol_version));
  }
  spdlog::info("live upgrade: pid {} (version {}) is ready after {:.0f} ms; stopping accepts",
               hello.hello().pid(), hello.hello().binary_version(), MsSince(started));

  // 3. Stop accepting. A second task behind the first runs after every accept that had already
  // completed, so each such connection is started on its loop before that loop parks.
  auto accept_paused = std::make_shared<std::promise<SteadyClock::time_point>>();
  auto fence = std::make_shared<std::promise<void>>();
  auto paused_at = accept_paused->get_future();
  auto fenced = fence->get_future();
  asio::post(server_.accept_io_, [this, accept_paused] {
    for (auto& l : server_.listeners_)
      l->PauseAccepting();
    accept_paused->set_value(SteadyClock::now());
  });
  asio::post(server_.accept_io_, [fence] { fence->set_value(); });
  if (fenced.wait_until(deadline) != std::future_status::ready) {
    paused = true;  // the pause may still run
    return fail("the accept loop did not stop accepting in time");
  }
  paused = true;
  const SteadyClock::time_point last_accept = paused_at.get();

  // 4. Park every io loop and collect what it carries.
  const std::size_t loops = server_.pool_.size();
  park = std::make_shared<Parking>();
  park->loops.resize(loops);
  park->arrived.assign(loops, false);
  for (std::size_t i = 0; i < loops; ++i) {
    asio::io_context& io = server_.pool_.At(i);
    asio::post(io, [park, i, &io] { ParkLoop(park, i, io); });
  }
  {
    std::unique_lock lock(park->mu);
    if (!park->cv.wait_until(lock, deadline, [&] { return park->parked == loops; })) {
      lock.unlock();
      return fail("not every io loop parked in time");
    }
  }
  const auto parked_at = SteadyClock::now();

  // 5. The state: listeners, connections, the registry's entries of the carried links.
  handover::Envelope state_message;
  handover::State& state = *state_message.mutable_state();
  state.set_protocol_version(command_.protocol_version);
  state.set_pid(::getpid());
  state.set_accept_paused_ns(ToNs(last_accept));
  state.set_max_link(MsgServerConnection::LastLink());
  std::vector<int> fds;
  for (auto& l : server_.listeners_) {
    for (const Listener::BoundSocket& b : l->bound_sockets()) {
      handover::ListenerSocket& s = *state.add_listeners();
      s.set_listener(std::string(l->name()));
      s.set_address(b.endpoint.address().to_string());
      s.set_port(b.endpoint.port());
      s.set_fd_index(static_cast<std::uint32_t>(fds.size()));
      fds.push_back(b.fd);
    }
  }
  const registry::RegistryState registry_state = server_.registry_.ExportState();
  for (const std::string& key : registry_state.drain_keys)
    state.add_drain_keys(key);
  std::unordered_map<std::uint64_t, const registry::RegistryEntryState*> entries;
  // A live entry is the only one in its slot; the generation is compared below.
  auto key_of = [](registry::ServerHandle h) { return (std::uint64_t{h.shard} << 32) | h.slot; };
  for (const auto& e : registry_state.entries) {
    if (e.provisional) {
      *state.add_provisional() = ToProto(e);
    } else {
      entries.emplace(key_of(e.handle), &e);
    }
  }
  state.set_provisional_grace_left_ms(server_.registry_.provisional_grace_left_ms());
  std::size_t msg_servers = 0;
  std::size_t others = 0;
  std::size_t kept = 0;
  for (Parking::Loop& loop : park->loops) {
    kept += loop.kept;
    for (std::size_t k = 0; k < loop.states.size(); ++k) {
      handover::ConnectionState& c = *state.add_connections();
      c = std::move(loop.states[k]);
      c.set_fd_index(static_cast<std::uint32_t>(fds.size()));
      fds.push_back(loop.carried[k]->native_handle());
      if (c.kind() == handover::ConnectionState::MSG_SERVER) {
        ++msg_servers;
        const auto handle = loop.entries[k];
        if (const auto it = entries.find(key_of(handle));
            handle.valid() && it != entries.end() && it->second->handle == handle) {
          *c.mutable_msg_server()->mutable_entry() = ToProto(*it->second);
        }
      } else {
        ++others;
      }
    }
  }
  spdlog::info(
      "live upgrade: io loops parked {:.1f} ms after the last accept; handing {} listening "
      "socket(s), {} msg_server link(s) and {} idle client/HTTP/admin connection(s) to pid {} "
      "({} connection(s) in a request stay here)",
      MsSince(last_accept, parked_at), state.listeners_size(), msg_servers, others,
      hello.hello().pid(), kept);
  if (std::string e = Send(channel, state_message, fds, deadline); !e.empty()) {
    return fail(ChildFailure(channel, child, e, "while the state was sent", deadline,
                             config->upgrade_timeout));
  }

  // 6. Adopted, then Commit.
  handover::Envelope adopted;
  if (std::string e = Receive(channel, adopted, deadline, kReplyLimits); !e.empty()) {
    return fail(ChildFailure(channel, child, e, "before it adopted the state", deadline,
                             config->upgrade_timeout));
  }
  if (adopted.has_abort())
    return fail("the new process refused the state: " + adopted.abort().reason());
  if (!adopted.has_adopted()) return fail("the new process answered the state out of order");
  handover::Envelope commit;
  commit.mutable_commit();
  if (std::string e = Send(channel, commit, {}, deadline); !e.empty()) {
    return fail(
        ChildFailure(channel, child, e, "before the commit", deadline, config->upgrade_timeout));
  }
  const auto committed = SteadyClock::now();
  park->Decide(Parking::Decision::kCommit);
  {
    std::unique_lock lock(park->mu);
    park->cv.wait(lock, [&] { return park->released == park->parked; });
  }
  outcome.result = admin::UpgradeOutcome::Result::kUpgraded;
  outcome.new_pid = hello.hello().pid();
  outcome.handover_ms = MsSince(last_accept, committed);
  // The new process serves from the commit on; this waits only for it to have told the service
  // manager that it is the main process, so that this one's exit is not taken for the service's.
  handover::Envelope serving;
  if (std::string e =
          Receive(channel, serving, std::max(deadline, committed + kServingWait), kReplyLimits);
      !e.empty() || !serving.has_serving()) {
    spdlog::warn(
        "live upgrade: pid {} did not confirm that it serves ({}); it was committed and serves "
        "the carried connections",
        outcome.new_pid, e.empty() ? "an unexpected message" : e);
  }
  spdlog::info(
      "live upgrade: committed; pid {} serves now ({} listening socket(s), {} msg_server "
      "link(s), {} other connection(s); {:.1f} ms from the last accept here to the commit, "
      "{:.0f} ms in all); this process (pid {}) exits once the {} request(s) it kept are "
      "answered",
      outcome.new_pid, state.listeners_size(), msg_servers, others, outcome.handover_ms,
      MsSince(started, committed), ::getpid(), kept);
  // The child is the new main process; it is not ours to wait for.
  child.pid = -1;
  return outcome;
}

void UpgradeCoordinator::Serving(TakenOver& taken) {
  if (!taken.channel) return;
  handover::Envelope serving;
  serving.mutable_serving();
  if (std::string e =
          Send(*taken.channel, serving, {}, SteadyClock::now() + std::chrono::seconds(1));
      !e.empty()) {
    spdlog::warn("live upgrade: cannot tell the old process (pid {}) that this one serves: {}",
                 taken.old_pid, e);
  }
  taken.channel.reset();
}

std::string UpgradeCoordinator::TakeOver(LoginServer& server, HandoverChannel&& channel_in,
                                         const UpgradeCommand& command, TakenOver& out) {
  out.channel = std::make_shared<HandoverChannel>(std::move(channel_in));
  HandoverChannel& channel = *out.channel;
  const auto config = server.live_config_.Snapshot();
  const auto deadline = SteadyClock::now() + config->upgrade_timeout;
  handover::Envelope hello;
  hello.mutable_hello()->set_protocol_version(command.protocol_version);
  hello.mutable_hello()->set_binary_version(command.binary_version);
  hello.mutable_hello()->set_pid(::getpid());
  if (std::string e = Send(channel, hello, {}, deadline); !e.empty()) {
    return "cannot say hello to the old process: " + e;
  }
  handover::Envelope message;
  std::vector<UniqueFd> fds;
  if (std::string e = Receive(channel, message, deadline, {}, &fds); !e.empty()) {
    return "no state from the old process: " + e;
  }
  if (message.has_abort()) return "the old process refused: " + message.abort().reason();
  if (!message.has_state()) return "the old process did not send its state";
  const handover::State& state = message.state();
  out.old_pid = static_cast<pid_t>(state.pid());
  out.accept_paused = FromNs(state.accept_paused_ns());
  auto refuse = [&](const std::string& reason) {
    SendAbort(channel, reason, deadline);
    return reason;
  };
  if (state.protocol_version() != command.protocol_version) {
    return refuse("the old process sent a state of handover protocol version " +
                  std::to_string(state.protocol_version()) + ", this one speaks " +
                  std::to_string(command.protocol_version));
  }
  auto take_fd = [&](std::uint32_t index, UniqueFd& into) -> bool {
    if (index >= fds.size() || !fds[index].valid()) return false;
    into = std::move(fds[index]);
    return true;
  };

  // Listeners: the carried sockets; a listener the old process did not have is bound afresh.
  const common::LoginServerConfig& startup = server.startup_;
  for (const handover::ListenerSocket& s : state.listeners()) {
    UniqueFd socket;
    if (!take_fd(s.fd_index(), socket)) return refuse("a listening socket is missing");
    Listener* listener = nullptr;
    for (auto& l : server.listeners_) {
      if (l->name() == s.listener()) listener = l.get();
    }
    if (listener == nullptr) {
      spdlog::warn("live upgrade: the {} listener on {} port {} is not in this config; closed",
                   s.listener(), s.address(), s.port());
      continue;
    }
    if (std::string e = listener->Adopt(socket.release()); !e.empty()) return refuse(e);
    ++out.listeners;
  }
  const common::ListenerConfig* configs[] = {&startup.msg_server, &startup.client, &startup.http,
                                             &startup.admin};
  for (std::size_t i = 0; i < server.listeners_.size(); ++i) {
    Listener& l = *server.listeners_[i];
    l.set_max_connections(configs[i]->max_connections);
    if (!l.endpoints().empty()) continue;
    if (std::string e = l.Bind(*configs[i]); !e.empty()) return refuse(e);
  }

  // The registry's entries, then the connections that own them.
  registry::RegistryState registry_state;
  registry_state.drain_keys.assign(state.drain_keys().begin(), state.drain_keys().end());
  for (const handover::ConnectionState& c : state.connections()) {
    if (c.kind() == handover::ConnectionState::MSG_SERVER && c.msg_server().has_entry()) {
      registry_state.entries.push_back(FromProto(c.msg_server().entry()));
    }
  }
  const std::vector<registry::ServerHandle> handles = server.registry_.ImportState(registry_state);
  if (state.provisional_size() > 0) {
    std::vector<registry::ProvisionalEntry> provisional;
    provisional.reserve(static_cast<std::size_t>(state.provisional_size()));
    for (const handover::RegistryEntry& p : state.provisional()) {
      const registry::RegistryEntryState e = FromProto(p);
      provisional.push_back({e.info, e.meta.registered_ms, e.meta.last_heard_ms});
    }
    const std::size_t added = server.registry_.AddProvisional(
        provisional, {}, std::max<std::int64_t>(0, state.provisional_grace_left_ms()));
    spdlog::info(
        "live upgrade: {} provisional msg_server(s) of a warm start carried, {} ms of "
        "grace left",
        added, state.provisional_grace_left_ms());
  }
  server.taken_over_ = true;
  MsgServerConnection::NumberLinksAbove(state.max_link());
  std::size_t next_entry = 0;
  for (const handover::ConnectionState& c : state.connections()) {
    UniqueFd socket_fd;
    if (!take_fd(c.fd_index(), socket_fd)) return refuse("a connection's socket is missing");
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::getsockname(socket_fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        (address.ss_family != AF_INET && address.ss_family != AF_INET6)) {
      return refuse("a carried connection is not a TCP/IP socket");
    }
    asio::io_context& loop = server.pool_.Next();
    asio::ip::tcp::socket socket(loop);
    asio::error_code ec;
    socket.assign(address.ss_family == AF_INET ? asio::ip::tcp::v4() : asio::ip::tcp::v6(),
                  socket_fd.get(), ec);
    if (ec) return refuse("cannot take over a connection: " + ec.message());
    (void)socket_fd.release();
    std::shared_ptr<Connection> connection;
    ListenerKind kind = ListenerKind::kMsgServer;
    switch (c.kind()) {
      case handover::ConnectionState::MSG_SERVER: {
        const handover::MsgServerSessionState& ms = c.msg_server();
        auto m =
            std::make_shared<MsgServerConnection>(std::move(socket), server.context_, ms.link());
        registry::ServerHandle handle;
        if (ms.has_entry() && next_entry < handles.size()) handle = handles[next_entry++];
        const std::string& pending = ms.pending_frame();
        m->session().Restore(
            handle, ms.host_name(), ms.known_count(), FromNs(ms.last_touch_ns()),
            std::span(reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size()));
        connection = std::move(m);
        break;
      }
      case handover::ConnectionState::CLIENT: {
        auto cl = std::make_shared<ClientConnection>(std::move(socket), server.context_);
        cl->RestoreAccepted(FromNs(c.client_accepted_ns()));
        connection = std::move(cl);
        kind = ListenerKind::kClient;
        break;
      }
      case handover::ConnectionState::HTTP:
        connection = std::make_shared<http::HttpConnection>(
            std::move(socket), server.context_, server.msg_server_handler_, ListenerKind::kHttp);
        kind = ListenerKind::kHttp;
        break;
      case handover::ConnectionState::ADMIN:
        if (!startup.admin_enabled) continue;  // no admin listener here: the socket closes
        connection = std::make_shared<http::HttpConnection>(
            std::move(socket), server.context_, server.admin_handler_, ListenerKind::kAdmin);
        kind = ListenerKind::kAdmin;
        break;
      default:
        return refuse("a carried connection of unknown kind " + std::to_string(c.kind()));
    }
    const std::string& held = c.held_input();
    connection->RestoreCarried(
        c.queued_output(),
        std::span(reinterpret_cast<const std::uint8_t*>(held.data()), held.size()),
        FromNs(c.last_received_ns()), FromNs(c.last_sent_ns()));
    connection->CountIn(server.connection_stats_[static_cast<std::size_t>(kind)]);
    server.adopted_.push_back(std::move(connection));
    ++out.connections;
  }

  handover::Envelope adopted;
  adopted.mutable_adopted()->set_listeners(static_cast<std::uint32_t>(out.listeners));
  adopted.mutable_adopted()->set_connections(static_cast<std::uint32_t>(out.connections));
  if (std::string e = Send(channel, adopted, {}, deadline); !e.empty()) {
    return "cannot tell the old process the state is adopted: " + e;
  }
  handover::Envelope commit;
  if (std::string e = Receive(channel, commit, deadline, kReplyLimits); !e.empty()) {
    return "no commit from the old process: " + e;
  }
  if (commit.has_abort()) return "the old process gave up: " + commit.abort().reason();
  if (!commit.has_commit()) return "the old process did not commit";
  server.metrics_.Add(Counter::kUpgrades);
  server.metrics_.set_handover_seconds(
      std::chrono::duration<double>(SteadyClock::now() - out.accept_paused).count());
  return {};
}

void LoginServer::FinishAfterHandover(pid_t new_pid) {
  asio::post(accept_io_, [this] {
    handed_over_ = true;
    // Closing these descriptors leaves the sockets listening in the new process.
    for (auto& l : listeners_)
      l->Stop();
  });
  // A kept connection is done once closed; one that went idle after its answer (a keep-alive
  // client, the POST /upgrade itself) is closed here, after its answer went out.
  const auto bound = std::chrono::steady_clock::now() + live_config_.Snapshot()->upgrade_timeout;
  struct Count {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t loops = 0;
    std::size_t open = 0;
  };
  for (;;) {
    auto count = std::make_shared<Count>();
    for (std::size_t i = 0; i < pool_.size(); ++i) {
      asio::io_context& io = pool_.At(i);
      asio::post(io, [count, &io] {
        auto& timers = asio::use_service<ConnectionTimers>(io);
        std::vector<std::shared_ptr<Connection>> idle;
        timers.ForEachConnection([&](Connection& c) {
          if (IsBetweenRequests(c) && c.unsent_output().empty()) {
            if (auto self = c.weak_from_this().lock()) idle.push_back(std::move(self));
          }
        });
        for (const auto& c : idle)
          c->Close("the new process serves now");
        std::lock_guard lock(count->mu);
        count->open += timers.tracked();
        ++count->loops;
        count->cv.notify_all();
      });
    }
    std::unique_lock lock(count->mu);
    const bool answered =
        count->cv.wait_until(lock, bound, [&] { return count->loops == pool_.size(); });
    if (!answered || count->open == 0 || std::chrono::steady_clock::now() >= bound) {
      const std::size_t open = count->open;
      lock.unlock();
      asio::post(accept_io_, [this, new_pid, open] {
        Shutdown("live upgrade: pid " + std::to_string(new_pid) + " serves now" +
                 (open == 0 ? std::string()
                            : "; " + std::to_string(open) +
                                  " connection(s) kept here still open at UpgradeTimeout"));
      });
      return;
    }
    lock.unlock();
    std::this_thread::sleep_for(kFinishPoll);
  }
}

}  // namespace ttlogin::server
