// IoThreadPool: one io_context per thread (the one-loop-per-thread model).
//
// A connection is placed on one loop when accepted and stays there, so its state needs no lock and
// no strand. Loops are handed out round-robin.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include <asio.hpp>

namespace ttlogin::server {

class IoThreadPool {
 public:
  explicit IoThreadPool(std::size_t threads);
  ~IoThreadPool();
  IoThreadPool(const IoThreadPool&) = delete;
  IoThreadPool& operator=(const IoThreadPool&) = delete;

  void Start();
  // Stops every loop and joins the threads. Pending handlers are destroyed with the contexts.
  void Stop();

  asio::io_context& Next();
  asio::io_context& At(std::size_t i) { return *contexts_[i]; }
  std::size_t size() const { return contexts_.size(); }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace ttlogin::server
