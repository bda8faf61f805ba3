// ConnectionTimers: the deadlines of every connection of one io_context, in one DeadlineHeap served
// by one asio timer armed at the earliest.
//
// One heap per loop instead of an asio timer per connection: an idle connection then costs a heap
// slot instead of a 120-byte timer plus a pending wait operation. An asio service, so it lives
// exactly as long as its io_context and needs no lock (all its users run on that context's one
// thread; a connection destroyed on another thread at shutdown does so after the loop has
// stopped).
#pragma once

#include <memory>
#include <vector>

#include <asio.hpp>

#include "server/net/connection.h"
#include "server/net/deadline_heap.h"

namespace ttlogin::server {

class ConnectionTimers final : public asio::io_context::service {
 public:
  static inline asio::io_context::id id;

  explicit ConnectionTimers(asio::io_context& io) : asio::io_context::service(io), timer_(io) {}

  // The service of the io_context behind `executor` (created on first use).
  static ConnectionTimers& Of(const asio::any_io_executor& executor);

  // Sets `c`'s one deadline, replacing the previous one. The asio timer is re-armed only when
  // this deadline becomes the earliest and is earlier than the one it waits for.
  void Schedule(Connection& c, Clock::time_point deadline) {
    heap_.Set(c, deadline);
    if (!shut_down_ && &heap_.top() == &c && (!armed_ || deadline < armed_at_)) Arm(deadline);
  }

  // Takes `c`'s deadline out. The timer may stay armed for it; it then fires early and re-arms.
  void Remove(Connection& c) { heap_.Remove(c); }

  // The loop's started, not closed connections, in an intrusive list: a live upgrade walks it
  // (with the loop parked) to collect what it carries. Linking costs two stores at start and at
  // close, nothing per read or write.
  void Track(Connection& c) {
    if (c.tracked_ || shut_down_) return;
    c.tracked_ = true;
    c.list_prev_ = nullptr;
    c.list_next_ = head_;
    if (head_ != nullptr) head_->list_prev_ = &c;
    head_ = &c;
    ++tracked_;
  }
  void Untrack(Connection& c) {
    if (!c.tracked_) return;
    c.tracked_ = false;
    if (c.list_prev_ != nullptr) c.list_prev_->list_next_ = c.list_next_;
    if (c.list_next_ != nullptr) c.list_next_->list_prev_ = c.list_prev_;
    if (head_ == &c) head_ = c.list_next_;
    c.list_prev_ = c.list_next_ = nullptr;
    --tracked_;
  }
  // Calls f(Connection&) for each tracked connection; f must not close or untrack any.
  template <typename F>
  void ForEachConnection(F&& f) {
    for (Connection* c = head_; c != nullptr; c = c->list_next_)
      f(*c);
  }
  std::size_t tracked() const { return tracked_; }

 private:
  void shutdown() override;
  void Arm(Clock::time_point at);
  void OnFired();

  asio::steady_timer timer_;
  DeadlineHeap<Connection, &Connection::deadline_> heap_;
  std::vector<std::shared_ptr<Connection>> due_;  // only inside OnFired; keeps its capacity
  Connection* head_ = nullptr;
  std::size_t tracked_ = 0;
  bool armed_ = false;
  bool shut_down_ = false;
  Clock::time_point armed_at_{};
};

}  // namespace ttlogin::server
