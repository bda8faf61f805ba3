#include "server/net/connection.h"

#include <algorithm>
#include <array>
#include <limits>
#include <vector>

#include <spdlog/spdlog.h>

namespace ttlogin::server {

// The deadlines of every connection of one io_context: a binary min-heap of connections keyed by
// deadline, and one asio timer armed at the earliest. Arming a deadline costs O(log n) without
// allocating (the heap's vector keeps its capacity), and is rare: protocols arm once per timeout
// period, never per PDU or request. An asio service, so it lives exactly as long as its
// io_context and needs no lock (all its users run on that context's one thread; a connection
// destroyed on another thread at shutdown does so after the loop has stopped).
class ConnectionTimers final : public asio::io_context::service {
 public:
  static constexpr std::uint32_t kNotQueued = std::numeric_limits<std::uint32_t>::max();
  static inline asio::io_context::id id;

  explicit ConnectionTimers(asio::io_context& io) : asio::io_context::service(io), timer_(io) {}

  static ConnectionTimers& Of(const asio::any_io_executor& executor) {
    auto& context = asio::query(executor, asio::execution::context);
    return asio::use_service<ConnectionTimers>(static_cast<asio::io_context&>(context));
  }

  void Schedule(Connection& c, Clock::time_point deadline) {
    c.deadline_ = deadline;
    if (c.heap_index_ == kNotQueued) {
      c.heap_index_ = static_cast<std::uint32_t>(heap_.size());
      heap_.push_back(&c);
      SiftUp(c.heap_index_);
    } else if (!SiftUp(c.heap_index_)) {
      SiftDown(c.heap_index_);
    }
    if (!shut_down_ && heap_.front() == &c && (!armed_ || deadline < armed_at_)) Arm(deadline);
  }

  void Remove(Connection& c) {
    const std::uint32_t i = c.heap_index_;
    if (i == kNotQueued) return;
    c.heap_index_ = kNotQueued;
    Connection* last = heap_.back();
    heap_.pop_back();
    if (last == &c) return;
    heap_[i] = last;
    last->heap_index_ = i;
    if (!SiftUp(i)) SiftDown(i);
    // The timer may stay armed for the removed deadline; it then fires early and re-arms.
  }

 private:
  void shutdown() override {
    shut_down_ = true;
    for (Connection* c : heap_)
      c->heap_index_ = kNotQueued;
    heap_.clear();
  }

  void Arm(Clock::time_point at) {
    armed_ = true;
    armed_at_ = at;
    timer_.expires_at(at);
    timer_.async_wait([this](const asio::error_code& ec) {
      if (ec != asio::error::operation_aborted) OnFired();
    });
  }

  void OnFired() {
    armed_ = false;
    // Take every connection that is due first, then run them: a protocol that re-arms at a
    // deadline already past (a heartbeat the kernel did not take) waits for the next firing
    // instead of spinning here.
    const Clock::time_point now = Clock::now();
    while (!heap_.empty() && heap_.front()->deadline_ <= now) {
      Connection& c = *heap_.front();
      Remove(c);
      // Alive (a connection leaves the heap in its destructor); held while its protocol runs.
      if (auto self = c.weak_from_this().lock()) due_.push_back(std::move(self));
    }
    for (const auto& c : due_)
      c->OnDeadline();
    due_.clear();
    if (!heap_.empty() && !armed_) Arm(heap_.front()->deadline_);
  }

  bool SiftUp(std::uint32_t i) {
    bool moved = false;
    while (i > 0) {
      const std::uint32_t parent = (i - 1) / 2;
      if (!(heap_[i]->deadline_ < heap_[parent]->deadline_)) break;
      Swap(i, parent);
      i = parent;
      moved = true;
    }
    return moved;
  }

  void SiftDown(std::uint32_t i) {
    const auto n = static_cast<std::uint32_t>(heap_.size());
    for (;;) {
      const std::uint32_t left = 2 * i + 1;
      if (left >= n) return;
      std::uint32_t least = left;
      if (left + 1 < n && heap_[left + 1]->deadline_ < heap_[left]->deadline_) least = left + 1;
      if (!(heap_[least]->deadline_ < heap_[i]->deadline_)) return;
      Swap(i, least);
      i = least;
    }
  }

  void Swap(std::uint32_t a, std::uint32_t b) {
    std::swap(heap_[a], heap_[b]);
    heap_[a]->heap_index_ = a;
    heap_[b]->heap_index_ = b;
  }

  asio::steady_timer timer_;
  std::vector<Connection*> heap_;
  std::vector<std::shared_ptr<Connection>> due_;  // only inside OnFired; keeps its capacity
  bool armed_ = false;
  bool shut_down_ = false;
  Clock::time_point armed_at_{};
};

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
      heap_index_(ConnectionTimers::kNotQueued),
      last_received_(Clock::now()),
      last_sent_(last_received_) {
  asio::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  peer_ = ec ? std::string("?") : FormatEndpoint(remote);
}

Connection::~Connection() {
  timers_.Remove(*this);
}

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
  timers_.Remove(*this);
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  std::string().swap(output_);
  std::vector<std::uint8_t>().swap(held_input_);
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
  if (reading_stopped_) return;
  if (read_paused_) return;  // resumed once the output drains
  if (input_held_) {
    read_paused_ = true;  // resumed by ReleaseInput
    return;
  }
  if (queued_output() > output_budget_) {
    // A protocol that consumed all its input still queued too much (it answers unprompted):
    // read nothing more until the peer takes it.
    read_paused_ = true;
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
  if (closed_ || reading_stopped_) return;
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
  if (used == data.size() || closed_ || reading_stopped_) return true;
  // Output is over budget: keep the rest of this read (it may be the per-thread buffer, which the
  // next read overwrites) and read nothing more until the peer has taken the queued output.
  held_input_.assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
  read_paused_ = true;
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
  if (read_paused_ && queued_output() == 0) ScheduleResume();
}

void Connection::ResumeHeldInput() {
  if (closed_ || reading_stopped_ || input_held_ || queued_output() != 0) return;
  if (!held_input_.empty()) {
    // Moved out first: the protocol may pause again and refill held_input_ with its own rest.
    std::vector<std::uint8_t> input;
    input.swap(held_input_);
    if (!Deliver(input)) return;
    if (closed_ || reading_stopped_) return;
  }
  read_paused_ = false;
  WaitReadable();
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
  if (read_paused_) ScheduleResume();
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
  timers_.Schedule(*this, deadline);
}

void Connection::OnDeadline() {
  if (closed_) return;
  OnTimer(Clock::now());
}

}  // namespace ttlogin::server
