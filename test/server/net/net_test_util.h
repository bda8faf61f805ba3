// Helpers of the net tests: a Connection whose protocol is set per test, and bounded waits.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <asio.hpp>

#include "server/net/connection.h"

namespace ttlogin::server::testing {

using std::chrono::milliseconds;
inline constexpr milliseconds kWait{5000};

// A protocol made of callbacks, with the protected Connection API opened up for the test.
class TestConnection : public Connection {
 public:
  explicit TestConnection(asio::ip::tcp::socket socket) : Connection(std::move(socket)) {}

  using Connection::ArmTimer;
  using Connection::HoldInput;
  using Connection::output_room;
  using Connection::queued_output;
  using Connection::ReleaseInput;
  using Connection::Send;
  using Connection::SendAndClose;
  using Connection::set_output_budget;
  using Connection::StopReading;

  // Returns how much of the data it consumed; unset: everything.
  std::function<std::size_t(TestConnection&, std::span<const std::uint8_t>)> on_data;
  std::function<void(TestConnection&)> on_start;

  std::vector<std::string> deliveries;  // every OnData's bytes, in order
  std::vector<Clock::time_point> timer_fired_at;
  int closes = 0;
  std::string close_reason;

 protected:
  void OnStart() override {
    if (on_start) on_start(*this);
  }
  std::size_t OnData(std::span<const std::uint8_t> data) override {
    deliveries.emplace_back(reinterpret_cast<const char*>(data.data()), data.size());
    return on_data ? on_data(*this, data) : data.size();
  }
  void OnTimer(Clock::time_point now) override { timer_fired_at.push_back(now); }
  void OnClose(std::string_view reason) override {
    ++closes;
    close_reason = std::string(reason);
  }
};

// Runs `io` on this thread until `done()` holds; false when `timeout` passes first.
template <typename Pred>
bool RunUntil(asio::io_context& io, Pred done, milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.restart();
    io.run_one_for(milliseconds(5));
  }
  return true;
}

// Waits for a condition that other threads make true; false when `timeout` passes first.
template <typename Pred>
bool WaitFor(Pred done, milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// The client end of a loopback connection, read without blocking.
struct Client {
  explicit Client(asio::io_context& io) : socket(io) {}

  void Write(std::string_view bytes) { asio::write(socket, asio::buffer(bytes)); }

  // Reads whatever has arrived. Returns false once the peer has closed (EOF or reset).
  bool Poll() {
    if (ended) return false;
    socket.non_blocking(true);
    std::array<char, 64 * 1024> buffer;
    for (;;) {
      asio::error_code ec;
      const std::size_t n = socket.read_some(asio::buffer(buffer), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) return true;
      if (ec) {
        ended = true;
        end = ec;
        return false;
      }
      received.append(buffer.data(), n);
    }
  }

  asio::ip::tcp::socket socket;
  std::string received;
  bool ended = false;
  asio::error_code end;  // why it ended: eof, or connection_reset
};

}  // namespace ttlogin::server::testing
