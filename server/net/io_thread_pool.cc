#include "server/net/io_thread_pool.h"

#include <spdlog/spdlog.h>

namespace ttlogin::server {

IoThreadPool::IoThreadPool(std::size_t threads) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) {
    // Concurrency hint 1: each context is run by exactly one thread, so asio can skip locking.
    contexts_.push_back(std::make_unique<asio::io_context>(1));
  }
}

IoThreadPool::~IoThreadPool() {
  Stop();
}

void IoThreadPool::Start() {
  for (auto& ctx : contexts_)
    guards_.push_back(asio::make_work_guard(*ctx));
  for (auto& ctx : contexts_) {
    threads_.emplace_back([&io = *ctx] {
      for (;;) {
        try {
          io.run();
          return;
        } catch (const std::exception& e) {
          // Handlers do not throw by design; if one does, log it and keep the loop alive.
          spdlog::error("unexpected exception on an io thread: {}", e.what());
        }
      }
    });
  }
}

void IoThreadPool::Stop() {
  guards_.clear();
  for (auto& ctx : contexts_)
    ctx->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

asio::io_context& IoThreadPool::Next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

}  // namespace ttlogin::server
