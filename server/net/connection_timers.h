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

 private:
  void shutdown() override;
  void Arm(Clock::time_point at);
  void OnFired();

  asio::steady_timer timer_;
  DeadlineHeap<Connection, &Connection::deadline_> heap_;
  std::vector<std::shared_ptr<Connection>> due_;  // only inside OnFired; keeps its capacity
  bool armed_ = false;
  bool shut_down_ = false;
  Clock::time_point armed_at_{};
};

}  // namespace ttlogin::server
