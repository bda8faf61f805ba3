#include "tools/pdu_dump/pdu_proxy.h"

#include <array>
#include <chrono>
#include <cstdio>

#include "tools/pdu_dump/pdu_filter.h"
#include "tools/pdu_dump/pdu_stream_decoder.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using asio::ip::tcp;

// One read's worth per direction; a login-tier PDU is far smaller, and a full buffer simply
// means the next read comes right after the write.
constexpr std::size_t kPumpBufferSize = 64 * 1024;

TimestampUs Now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Endpoint ToEndpoint(const tcp::endpoint& e) {
  Endpoint out;
  out.port = e.port();
  const asio::ip::address a = e.address();
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.address.begin());
  } else {
    const auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), out.address.begin());
    out.ipv6 = true;
  }
  return out;
}

StreamInfo MakeInfo(std::uint64_t id, const tcp::endpoint& from, const tcp::endpoint& to) {
  StreamInfo info;
  info.id = id;
  info.src = ToEndpoint(from);
  info.dst = ToEndpoint(to);
  info.src_label = FormatEndpoint(info.src);
  info.dst_label = FormatEndpoint(info.dst);
  return info;
}

}  // namespace

std::string ParseProxySpec(const std::string& spec, ProxyConfig& config) {
  // Split from the right: HOST may be an IPv6 literal in brackets, LISTEN_ADDR too.
  const std::string usage = "--proxy wants [LISTEN_ADDR:]LISTEN_PORT:HOST:PORT, got '" + spec + "'";
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= spec.size()) {
    std::size_t end = start;
    if (end < spec.size() && spec[end] == '[') {
      end = spec.find(']', end);
      if (end == std::string::npos) return usage;
    }
    end = spec.find(':', end);
    if (end == std::string::npos) end = spec.size();
    std::string part = spec.substr(start, end - start);
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
      part = part.substr(1, part.size() - 2);
    }
    parts.push_back(part);
    start = end + 1;
  }
  if (parts.size() == 4) {
    config.listen_host = parts[0];
    parts.erase(parts.begin());
  }
  if (parts.size() != 3 || parts[1].empty()) return usage;
  const auto listen_port = ParseNumber(parts[0], 65535);
  const auto upstream_port = ParseNumber(parts[2], 65535);
  if (!listen_port || !upstream_port || *upstream_port == 0) return usage;
  config.listen_port = static_cast<std::uint16_t>(*listen_port);
  config.upstream_host = parts[1];
  config.upstream_port = static_cast<std::uint16_t>(*upstream_port);
  return {};
}

class ProxySession : public std::enable_shared_from_this<ProxySession> {
 public:
  ProxySession(PduProxy& proxy, tcp::socket client)
      : proxy_(proxy), client_(std::move(client)), upstream_(client_.get_executor()) {}

  void Start() {
    auto self = shared_from_this();
    asio::async_connect(
        upstream_, proxy_.upstream_,
        [self](const std::error_code& ec, const tcp::endpoint&) { self->OnConnected(ec); });
  }

  // Ends both directions now (proxy shutdown).
  void Close() {
    for (Pump& pump : pumps_)
      EndPump(pump);
    Finish();
  }

 private:
  struct Pump {
    tcp::socket* from = nullptr;
    tcp::socket* to = nullptr;
    std::unique_ptr<PduStreamDecoder> decoder;
    std::array<std::uint8_t, kPumpBufferSize> buffer{};
    bool done = false;
  };

  void OnConnected(const std::error_code& ec) {
    if (finished_) return;  // the proxy stopped while connecting
    if (ec) {
      std::fprintf(stderr, "pdu_dump: proxy: cannot connect to %s:%u: %s; closing the client\n",
                   proxy_.config_.upstream_host.c_str(), proxy_.config_.upstream_port,
                   ec.message().c_str());
      std::error_code ignored;
      client_.close(ignored);
      proxy_.Forget(shared_from_this());
      return;
    }
    std::error_code e1;
    std::error_code e2;
    const tcp::endpoint client_end = client_.remote_endpoint(e1);
    const tcp::endpoint upstream_end = upstream_.remote_endpoint(e2);
    if (e1 || e2) {
      Close();
      return;
    }
    client_label_ = FormatEndpoint(ToEndpoint(client_end));
    upstream_label_ = FormatEndpoint(ToEndpoint(upstream_end));
    PduDumper& dumper = proxy_.dumper_;
    const std::uint64_t id = proxy_.connections_++ * 2;
    pumps_[0].from = &client_;
    pumps_[0].to = &upstream_;
    pumps_[0].decoder = std::make_unique<PduStreamDecoder>(MakeInfo(id, client_end, upstream_end),
                                                           dumper, proxy_.config_.max_pdu_size);
    pumps_[1].from = &upstream_;
    pumps_[1].to = &client_;
    pumps_[1].decoder = std::make_unique<PduStreamDecoder>(
        MakeInfo(id + 1, upstream_end, client_end), dumper, proxy_.config_.max_pdu_size);
    dumper.OnStreamOpened();
    dumper.OnStreamOpened();
    std::error_code ignored;
    // Small PDUs must not sit in Nagle's buffer: the proxy should add no latency of its own.
    upstream_.set_option(tcp::no_delay(true), ignored);
    client_.set_option(tcp::no_delay(true), ignored);
    Read(pumps_[0]);
    Read(pumps_[1]);
  }

  void Read(Pump& pump) {
    auto self = shared_from_this();
    pump.from->async_read_some(
        asio::buffer(pump.buffer),
        [self, &pump](const std::error_code& ec, std::size_t n) { self->OnRead(pump, ec, n); });
  }

  void OnRead(Pump& pump, const std::error_code& ec, std::size_t n) {
    if (pump.done) return;
    if (ec) {
      std::error_code ignored;
      if (ec == asio::error::eof) {
        // Pass the half-close on; the other direction may still have bytes to deliver.
        pump.to->shutdown(tcp::socket::shutdown_send, ignored);
        EndPump(pump);
        if (pumps_[0].done && pumps_[1].done) Finish();
      } else {
        // A reset (or any error) on one side becomes a reset on the other.
        pump.to->set_option(asio::socket_base::linger(true, 0), ignored);
        Close();
      }
      return;
    }
    pump.decoder->OnData({pump.buffer.data(), n}, Now());
    proxy_.dumper_.Flush();
    auto self = shared_from_this();
    asio::async_write(*pump.to, asio::buffer(pump.buffer.data(), n),
                      [self, &pump](const std::error_code& wec, std::size_t) {
                        if (wec) {
                          self->Close();
                          return;
                        }
                        if (!pump.done) self->Read(pump);
                      });
  }

  void EndPump(Pump& pump) {
    if (pump.done) return;
    pump.done = true;
    if (pump.decoder) pump.decoder->OnEnd(Now());
  }

  void Finish() {
    if (finished_) return;
    finished_ = true;
    std::error_code ignored;
    client_.close(ignored);
    upstream_.close(ignored);
    if (!client_label_.empty()) {
      proxy_.dumper_.OnConnectionClosed(client_label_, upstream_label_, Now());
    }
    proxy_.dumper_.Flush();
    proxy_.Forget(shared_from_this());
  }

  PduProxy& proxy_;
  tcp::socket client_;
  tcp::socket upstream_;
  std::array<Pump, 2> pumps_;
  std::string client_label_;
  std::string upstream_label_;
  bool finished_ = false;
};

PduProxy::PduProxy(asio::io_context& io, ProxyConfig config, PduDumper& dumper)
    : io_(io), config_(std::move(config)), dumper_(dumper), acceptor_(io), retry_timer_(io) {}

PduProxy::~PduProxy() = default;

std::string PduProxy::Start() {
  std::error_code ec;
  tcp::resolver resolver(io_);
  upstream_ = resolver.resolve(config_.upstream_host, std::to_string(config_.upstream_port), ec);
  if (ec || upstream_.empty()) {
    return "cannot resolve " + config_.upstream_host + ": " + ec.message();
  }
  const asio::ip::address address = asio::ip::make_address(config_.listen_host, ec);
  if (ec) return "bad listen address '" + config_.listen_host + "': " + ec.message();
  const tcp::endpoint endpoint(address, config_.listen_port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return "cannot listen on " + config_.listen_host + ":" + std::to_string(config_.listen_port) +
           ": " + ec.message();
  }
  Accept();
  return {};
}

void PduProxy::Accept() {
  acceptor_.async_accept([this](const std::error_code& ec, tcp::socket socket) {
    if (stopped_) return;
    if (!ec) {
      auto session = std::make_shared<ProxySession>(*this, std::move(socket));
      sessions_.insert(session);
      session->Start();
      Accept();
      return;
    }
    // Transient accept errors (EMFILE...) must not end the proxy, nor spin it: retry shortly.
    std::fprintf(stderr, "pdu_dump: proxy: accept failed: %s\n", ec.message().c_str());
    retry_timer_.expires_after(kAcceptRetryDelay);
    retry_timer_.async_wait([this](const std::error_code& tec) {
      if (!tec && !stopped_) Accept();
    });
  });
}

void PduProxy::Stop() {
  stopped_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
  // Close() removes the session from sessions_, so iterate over a copy.
  const auto sessions = sessions_;
  for (const auto& s : sessions)
    s->Close();
  sessions_.clear();
}

}  // namespace ttlogin::tools::pdu_dump
