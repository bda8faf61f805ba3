#include "server/connection.h"

#include <array>

#include <spdlog/spdlog.h>

namespace ttlogin::server {
namespace {

// One read buffer per io thread, shared by every connection of that thread: an idle connection
// costs no buffer, and a read of many pipelined PDUs is decoded in place.
constexpr std::size_t kReadBufferSize = 64 * 1024;
// Reads served for one connection before yielding the thread to the others. One full buffer
// (about 47,000 count updates) per turn: a msg_server streaming a backlog must not make the HTTP
// clients on the same loop wait for its whole backlog (measured: p99 1.8 s at 16 reads per turn).
constexpr int kReadsPerTurn = 1;
// A peer that sends requests but does not read replies is paused once this much is queued.
constexpr std::size_t kMaxQueuedOutput = 1024 * 1024;

std::array<std::uint8_t, kReadBufferSize>& ThreadReadBuffer() {
  thread_local std::array<std::uint8_t, kReadBufferSize> buffer;
  return buffer;
}

}  // namespace

std::string FormatEndpoint(const asio::ip::tcp::endpoint& endpoint) {
  const asio::ip::address a = endpoint.address();
  if (a.is_v6()) return "[" + a.to_string() + "]:" + std::to_string(endpoint.port());
  return a.to_string() + ":" + std::to_string(endpoint.port());
}

Connection::Connection(asio::ip::tcp::socket socket, std::string_view listener_name)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      listener_name_(listener_name),
      last_received_(Clock::now()),
      last_sent_(last_received_) {
  asio::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  peer_ = ec ? std::string("?") : FormatEndpoint(remote);
}

Connection::~Connection() = default;

void Connection::Start() {
  asio::error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  OnStart();
  if (!closed_) WaitReadable();
}

void Connection::Close(std::string_view reason) {
  if (closed_) return;
  closed_ = true;
  OnClose(reason);
  asio::error_code ec;
  timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  std::string().swap(output_);
}

void Connection::WaitReadable() {
  if (closed_ || reading_stopped_) return;
  socket_.async_wait(
      asio::ip::tcp::socket::wait_read,
      [self = shared_from_this()](const asio::error_code& ec) { self->OnReadable(ec); });
}

void Connection::OnReadable(const asio::error_code& ec) {
  if (closed_) return;
  if (ec) {
    Close(ec == asio::error::operation_aborted ? "shutting down" : ec.message());
    return;
  }
  auto& buffer = ThreadReadBuffer();
  for (int i = 0; i < kReadsPerTurn; ++i) {
    if (closed_ || reading_stopped_) return;
    if (output_.size() - output_sent_ > kMaxQueuedOutput) {
      read_paused_ = true;  // resumed by OnWritten once the peer reads
      return;
    }
    asio::error_code read_ec;
    const std::size_t n = socket_.read_some(asio::buffer(buffer), read_ec);
    if (read_ec == asio::error::would_block || read_ec == asio::error::try_again) {
      WaitReadable();
      return;
    }
    if (read_ec) {
      Close(read_ec == asio::error::eof ? "peer closed" : read_ec.message());
      return;
    }
    last_received_ = Clock::now();
    OnData(std::span<const std::uint8_t>(buffer.data(), n));
    if (n < buffer.size()) {
      // Drained for now; wait for more rather than paying a read that returns EAGAIN.
      WaitReadable();
      return;
    }
  }
  // Still more to read: let the thread's other connections have a turn first.
  asio::post(socket_.get_executor(),
             [self = shared_from_this()] { self->OnReadable(asio::error_code{}); });
}

void Connection::Send(std::string_view bytes) {
  if (closed_ || close_after_write_) return;
  if (output_.empty() && !write_in_flight_) {
    // Nothing queued: write straight from the caller's bytes, and queue only what the kernel
    // did not take (usually nothing), so a reply is not copied and an idle connection keeps no
    // output buffer.
    asio::error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
      Close("write failed: " + ec.message());
      return;
    }
    if (!ec) {
      last_sent_ = Clock::now();
      bytes.remove_prefix(n);
    }
    if (bytes.empty()) return;
  }
  output_.append(bytes);
  FlushOutput();
}

void Connection::SendAndClose(std::string_view bytes) {
  if (closed_) return;
  output_.append(bytes);
  close_after_write_ = true;
  reading_stopped_ = true;
  FlushOutput();
}

void Connection::FlushOutput() {
  if (write_in_flight_ || closed_) return;
  while (output_sent_ < output_.size()) {
    asio::error_code ec;
    const std::size_t n = socket_.write_some(
        asio::buffer(output_.data() + output_sent_, output_.size() - output_sent_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      write_in_flight_ = true;
      socket_.async_wait(asio::ip::tcp::socket::wait_write,
                         [self = shared_from_this()](const asio::error_code& wait_ec) {
                           self->OnWritten(wait_ec, 0);
                         });
      return;
    }
    if (ec) {
      Close("write failed: " + ec.message());
      return;
    }
    output_sent_ += n;
    last_sent_ = Clock::now();
  }
  std::string().swap(output_);  // drained: an idle connection keeps no output buffer
  output_sent_ = 0;
  if (close_after_write_) {
    Close("reply sent");
    return;
  }
  if (read_paused_) {
    read_paused_ = false;
    WaitReadable();
  }
}

void Connection::OnWritten(const asio::error_code& ec, std::size_t /*n*/) {
  write_in_flight_ = false;
  if (closed_) return;
  if (ec) {
    Close(ec.message());
    return;
  }
  FlushOutput();
}

void Connection::ArmTimer(Clock::time_point deadline) {
  if (closed_) return;
  timer_.expires_at(deadline);
  timer_.async_wait(
      [self = shared_from_this()](const asio::error_code& ec) { self->OnTimerFired(ec); });
}

void Connection::OnTimerFired(const asio::error_code& ec) {
  if (ec || closed_) return;
  OnTimer(Clock::now());
}

}  // namespace ttlogin::server
