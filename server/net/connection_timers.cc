#include "server/net/connection_timers.h"

namespace ttlogin::server {

ConnectionTimers& ConnectionTimers::Of(const asio::any_io_executor& executor) {
  auto& context = asio::query(executor, asio::execution::context);
  return asio::use_service<ConnectionTimers>(static_cast<asio::io_context&>(context));
}

void ConnectionTimers::shutdown() {
  shut_down_ = true;
  heap_.Clear();
  while (head_ != nullptr)
    Untrack(*head_);
}

void ConnectionTimers::Arm(Clock::time_point at) {
  armed_ = true;
  armed_at_ = at;
  timer_.expires_at(at);
  timer_.async_wait([this](const asio::error_code& ec) {
    if (ec != asio::error::operation_aborted) OnFired();
  });
}

void ConnectionTimers::OnFired() {
  armed_ = false;
  // Take every connection that is due first, then run them: a protocol that re-arms at a
  // deadline already past (a heartbeat the kernel did not take) waits for the next firing
  // instead of spinning here.
  const Clock::time_point now = Clock::now();
  while (Connection* c = heap_.PopDue(now)) {
    // Alive (a connection leaves the heap in its destructor); held while its protocol runs.
    if (auto self = c->weak_from_this().lock()) due_.push_back(std::move(self));
  }
  for (const auto& c : due_)
    c->OnDeadline();
  due_.clear();
  if (!heap_.empty() && !armed_) Arm(heap_.earliest());
}

}  // namespace ttlogin::server
