#include "server/net/listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "common/log_rate_limiter.h"

namespace ttlogin::server {
namespace {
// Pause after an accept error such as EMFILE, so the loop does not spin on it.
constexpr auto kAcceptErrorBackoff = std::chrono::milliseconds(100);
}  // namespace

struct Listener::Acceptor {
  explicit Acceptor(asio::io_context& io) : acceptor(io), backoff(io) {}
  asio::ip::tcp::acceptor acceptor;
  asio::steady_timer backoff;
  asio::ip::tcp::endpoint endpoint;
  bool stopped = false;
};

Listener::Listener(std::string name, asio::io_context& accept_context, IoThreadPool& pool,
                   ListenerStats& stats, Factory factory)
    : name_(std::move(name)),
      accept_context_(accept_context),
      pool_(pool),
      stats_(stats),
      factory_(std::move(factory)) {}

namespace {
// Log the first refusals, then one in this many, so a connection flood does not flood the log.
constexpr common::LogSampling kRefusalLogs{.first = 3, .every = 1000};
}  // namespace

void Listener::Refuse(Acceptor& a, asio::ip::tcp::socket socket) {
  const std::uint64_t refused = stats_.CountRefused();
  if (kRefusalLogs.Logs(refused)) {
    spdlog::warn(
        "{} listener on {}: {} connections open, the limit; refusing new ones ({} "
        "refused so far)",
        name(), FormatEndpoint(a.endpoint), max_connections_, refused);
  }
  asio::error_code ec;
  socket.set_option(asio::socket_base::linger(true, 0), ec);  // RST: no TIME_WAIT pile-up
  socket.close(ec);
}

Listener::~Listener() = default;

std::string Listener::Bind(const common::ListenerConfig& config) {
  for (const std::string& address : config.addresses) {
    asio::error_code ec;
    const asio::ip::address ip = asio::ip::make_address(address, ec);
    if (ec) return std::string(name()) + ": bad address '" + address + "': " + ec.message();
    auto a = std::make_unique<Acceptor>(accept_context_);
    const asio::ip::tcp::endpoint endpoint(ip, config.port);
    const std::string where = FormatEndpoint(endpoint);
    a->acceptor.open(endpoint.protocol(), ec);
    if (ec) {
      return std::string(name()) + ": cannot open a socket for " + where + ": " + ec.message();
    }
    a->acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (ip.is_v6()) a->acceptor.set_option(asio::ip::v6_only(true), ec);
    a->acceptor.bind(endpoint, ec);
    if (ec) {
      return std::string(name()) + ": cannot listen on " + where + ": " + ec.message();
    }
    a->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return std::string(name()) + ": cannot listen on " + where + ": " + ec.message();
    }
    a->endpoint = a->acceptor.local_endpoint(ec);
    acceptors_.push_back(std::move(a));
  }
  return {};
}

std::vector<asio::ip::tcp::endpoint> Listener::endpoints() const {
  std::vector<asio::ip::tcp::endpoint> out;
  for (const auto& a : acceptors_)
    out.push_back(a->endpoint);
  return out;
}

void Listener::StartAccepting() {
  for (auto& a : acceptors_) {
    spdlog::info("{} listener on {}", name(), FormatEndpoint(a->endpoint));
    Accept(*a);
  }
}

void Listener::Accept(Acceptor& a) {
  if (a.stopped || paused_) return;
  a.acceptor.async_accept(
      pool_.Next(), [this, &a](const asio::error_code& ec, asio::ip::tcp::socket socket) {
        if (a.stopped || ec == asio::error::operation_aborted) return;
        if (ec) {
          spdlog::error("{} listener on {}: accept failed: {}; retrying in {} ms", name(),
                        FormatEndpoint(a.endpoint), ec.message(), kAcceptErrorBackoff.count());
          a.backoff.expires_after(kAcceptErrorBackoff);
          a.backoff.async_wait([this, &a](const asio::error_code& wait_ec) {
            if (!wait_ec) Accept(a);
          });
          return;
        }
        if (max_connections_ != 0 && stats_.open() >= static_cast<std::int64_t>(max_connections_)) {
          Refuse(a, std::move(socket));
        } else {
          stats_.CountAccepted();
          std::shared_ptr<Connection> connection = factory_(std::move(socket));
          connection->CountIn(stats_);
          asio::post(connection->executor(), [connection] { connection->Start(); });
        }
        Accept(a);  // not while paused
      });
}

void Listener::PauseAccepting() {
  paused_ = true;
  for (auto& a : acceptors_) {
    asio::error_code ec;
    a->acceptor.cancel(ec);
    a->backoff.cancel();
  }
}

void Listener::ResumeAccepting() {
  if (!paused_) return;
  paused_ = false;
  for (auto& a : acceptors_)
    Accept(*a);
}

std::vector<Listener::BoundSocket> Listener::bound_sockets() {
  std::vector<BoundSocket> out;
  for (auto& a : acceptors_)
    out.push_back(BoundSocket{a->acceptor.native_handle(), a->endpoint});
  return out;
}

std::string Listener::Adopt(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      (address.ss_family != AF_INET && address.ss_family != AF_INET6)) {
    ::close(fd);
    return std::string(name()) + ": a carried listening socket is not a TCP/IP socket";
  }
  auto a = std::make_unique<Acceptor>(accept_context_);
  asio::error_code ec;
  a->acceptor.assign(address.ss_family == AF_INET ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), fd,
                     ec);
  if (ec) {
    ::close(fd);
    return std::string(name()) + ": cannot take over a listening socket: " + ec.message();
  }
  a->endpoint = a->acceptor.local_endpoint(ec);
  if (ec) return std::string(name()) + ": a carried listening socket has no address";
  acceptors_.push_back(std::move(a));
  return {};
}

void Listener::Stop() {
  for (auto& a : acceptors_) {
    a->stopped = true;
    asio::error_code ec;
    a->acceptor.close(ec);
    a->backoff.cancel();
  }
}

}  // namespace ttlogin::server
