#include "server/net/connection.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <vector>

#include "server/net/connection_timers.h"

namespace ttlogin::server {

namespace {

// One read buffer (kReadBufferSize) per io thread, shared by every connection of that thread: an
// idle connection costs no buffer, and a read of many pipelined PDUs is decoded in place.
// Fairness between a connection streaming a backlog (a msg_server pipelining updates) and the
// interactive connections on the same loop (HTTP, Client port). A turn is one read; a connection
// with more to read then yields (posts its next turn behind the others). A full 64 KiB read is
// about 3,000 updates, so 64 streaming msg_servers made each HTTP request wait for about 190,000
// updates per loop pass (measured: HTTP at 5-15% of its solo rate during update streams). So a
// streaming turn shrinks with the interactive work the loop did since the connection's previous
// turn: the whole buffer when there was none, 64 KiB / (1 + n) after n interactive reads, and
// never below this (about 190 updates; smaller turns cost more in system calls than they give).
constexpr std::size_t kMinTurnBytes = 4 * 1024;

struct ThreadReadState {
  std::array<std::uint8_t, kReadBufferSize> buffer;
  // Reads on this loop that drained their socket: the turns of interactive connections. A
  // streaming connection compares it between two of its turns to tell whether it is alone.
  std::uint32_t drained_reads = 0;
};

ThreadReadState& ThreadRead() {
  thread_local ThreadReadState state;
  return state;
}

// Bytes for the next turn of a streaming connection, after `interactive` interactive reads.
std::size_t StreamingTurnBytes(std::uint32_t interactive) {
  return std::max(kMinTurnBytes, kReadBufferSize / (std::size_t{1} + interactive));
}

}  // namespace

std::string FormatEndpoint(const asio::ip::tcp::endpoint& endpoint) {
  const asio::ip::address a = endpoint.address();
  if (a.is_v6()) return "[" + a.to_string() + "]:" + std::to_string(endpoint.port());
  return a.to_string() + ":" + std::to_string(endpoint.port());
}

Connection::Connection(asio::ip::tcp::socket socket)
    : socket_(std::move(socket)),
      timers_(ConnectionTimers::Of(socket_.get_executor())),
      last_received_(Clock::now()),
      last_sent_(last_received_) {
  asio::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  peer_ = ec ? std::string("?") : FormatEndpoint(remote);
}

Connection::~Connection() {
  timers_.Untrack(*this);
  timers_.Remove(*this);
  if (stats_ != nullptr) stats_->CountClosed();
}

void Connection::CountIn(ListenerStats& stats) {
  if (stats_ != nullptr) return;
  stats_ = &stats;
  stats.CountOpened();
}

void Connection::Start() {
  asio::error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  timers_.Track(*this);
  OnStart();
  if (!held_input_.empty()) {
    // Carried while paused: the held input goes first, once the carried output is out (FlushOutput
    // schedules that when it drains); ResumeHeldInput then reads on.
    state_ = State::kPaused;
    if (!output_.empty()) FlushOutput();
    if (state_ == State::kPaused && queued_output() == 0) ScheduleResume();
    return;
  }
  if (!output_.empty()) FlushOutput();  // carried by a live upgrade
  WaitReadable();
}

void Connection::RestoreCarried(std::string_view queued_output,
                                std::span<const std::uint8_t> held_input,
                                Clock::time_point last_received, Clock::time_point last_sent) {
  output_.assign(queued_output);
  output_sent_ = 0;
  held_input_.assign(held_input.begin(), held_input.end());
  last_received_ = last_received;
  last_sent_ = last_sent;
}

void Connection::HandOver() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  timers_.Untrack(*this);
  timers_.Remove(*this);
  stats_ = nullptr;  // the new process counts it from now on
  // release() takes the socket out of this loop's epoll set and cancels its waits (their
  // handlers see kClosed and return); close() then drops this process's descriptor only.
  asio::error_code ec;
  const int fd = socket_.release(ec);
  if (!ec && fd >= 0) ::close(fd);
  std::string().swap(output_);
  std::vector<std::uint8_t>().swap(held_input_);
}

void Connection::Close(std::string_view reason) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  OnClose(reason);
  asio::error_code ec;
  timers_.Untrack(*this);
  timers_.Remove(*this);
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  std::string().swap(output_);
  std::vector<std::uint8_t>().swap(held_input_);
}

void Connection::StopReading() {
  if (reading()) state_ = State::kReadingStopped;
}

void Connection::WaitReadable() {
  if (!reading()) return;
  socket_.async_wait(
      asio::ip::tcp::socket::wait_read,
      [self = shared_from_this()](const asio::error_code& ec) { self->OnReadable(ec); });
}

void Connection::OnReadable(const asio::error_code& ec) {
  if (state_ == State::kClosed) return;
  if (ec) {
    Close(ec == asio::error::operation_aborted ? "shutting down" : ec.message());
    return;
  }
  // Stopped, or paused: resumed once the output drains.
  if (state_ != State::kOpen) return;
  if (input_held_) {
    state_ = State::kPaused;  // resumed by ReleaseInput
    return;
  }
  if (queued_output() > output_budget_) {
    // A protocol that consumed all its input still queued too much (it answers unprompted):
    // read nothing more until the peer takes it.
    state_ = State::kPaused;
    return;
  }
  ThreadReadState& thread = ThreadRead();
  // A streaming connection (its last turn filled its read) shares the loop with the interactive
  // reads that happened since that turn.
  const std::size_t want =
      streaming_ ? StreamingTurnBytes(thread.drained_reads - drained_seen_) : kReadBufferSize;
  asio::error_code read_ec;
  const std::size_t n = socket_.read_some(asio::buffer(thread.buffer.data(), want), read_ec);
  if (read_ec == asio::error::would_block || read_ec == asio::error::try_again) {
    streaming_ = false;
    WaitReadable();
    return;
  }
  if (read_ec) {
    Close(read_ec == asio::error::eof ? "peer closed" : read_ec.message());
    return;
  }
  last_received_ = Clock::now();
  streaming_ = n == want;
  if (streaming_) {
    drained_seen_ = thread.drained_reads;
  } else {
    ++thread.drained_reads;
  }
  if (!Deliver(std::span<const std::uint8_t>(thread.buffer.data(), n))) return;
  if (state_ != State::kOpen) return;
  if (!streaming_) {
    // Drained for now; wait for more rather than paying a read that returns EAGAIN.
    WaitReadable();
    return;
  }
  // Still more to read: let the thread's other connections have a turn first.
  asio::post(socket_.get_executor(),
             [self = shared_from_this()] { self->OnReadable(asio::error_code{}); });
}

bool Connection::Deliver(std::span<const std::uint8_t> data) {
  const std::size_t used = std::min(OnData(data), data.size());
  if (used == data.size() || !reading()) return true;
  // Output is over budget: keep the rest of this read (it may be the per-thread buffer, which the
  // next read overwrites) and read nothing more until the peer has taken the queued output.
  held_input_.assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
  state_ = State::kPaused;
  if (queued_output() == 0) ScheduleResume();  // everything went to the kernel already
  return false;
}

void Connection::ScheduleResume() {
  if (resume_posted_) return;
  resume_posted_ = true;
  // Posted, not called: FlushOutput may run inside the protocol's own Send.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->resume_posted_ = false;
    self->ResumeHeldInput();
  });
}

void Connection::ReleaseInput() {
  input_held_ = false;
  if (state_ == State::kPaused && queued_output() == 0) ScheduleResume();
}

void Connection::PauseForOutput() {
  if (state_ != State::kOpen) return;
  state_ = State::kPaused;
  protocol_input_ = true;
  if (queued_output() == 0) ScheduleResume();  // everything went to the kernel already
}

void Connection::ResumeHeldInput() {
  if (state_ != State::kPaused || input_held_ || queued_output() != 0) return;
  // Open again before the held input goes out: the protocol may pause it again (Deliver).
  state_ = State::kOpen;
  if (!held_input_.empty()) {
    // Moved out first: the protocol may pause again and refill held_input_ with its own rest.
    std::vector<std::uint8_t> input;
    input.swap(held_input_);
    if (!Deliver(input)) return;
  } else if (protocol_input_) {
    protocol_input_ = false;
    (void)Deliver({});
  }
  if (state_ != State::kOpen) return;  // paused again, stopped or closed by the protocol
  WaitReadable();
}

void Connection::Send(std::string_view bytes) {
  if (state_ == State::kClosingAfterWrite || state_ == State::kClosed) return;
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
  if (state_ == State::kClosed) return;
  output_.append(bytes);
  state_ = State::kClosingAfterWrite;
  FlushOutput();
}

void Connection::FlushOutput() {
  if (write_in_flight_ || state_ == State::kClosed) return;
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
  if (state_ == State::kClosingAfterWrite) {
    Close("reply sent");
    return;
  }
  if (state_ == State::kPaused) ScheduleResume();
}

void Connection::OnWritten(const asio::error_code& ec, std::size_t /*n*/) {
  write_in_flight_ = false;
  if (state_ == State::kClosed) return;
  if (ec) {
    Close(ec.message());
    return;
  }
  FlushOutput();
}

void Connection::ArmTimer(Clock::time_point deadline) {
  if (state_ == State::kClosed) return;
  timers_.Schedule(*this, deadline);
}

void Connection::OnDeadline() {
  if (state_ == State::kClosed) return;
  OnTimer(Clock::now());
}

}  // namespace ttlogin::server
