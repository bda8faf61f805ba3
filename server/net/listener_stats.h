// ListenerStats: one listener's connection counts, kept by the connection layer (Listener counts
// accepts and refusals, Connection its own opening and closing) and read by whoever exports them,
// from any thread, at any time.
//
// The counts are relaxed atomics on one cache line per listener: an accept touches that line
// once or twice and a close once, as the shared open-connections word did before. accepted and
// refused have one writer (the listener's accept loop), so they are bumped with a relaxed load and
// store rather than a locked read-modify-write; opened and closed are written by the accept loop
// and by every io loop, so they take a fetch_add.
#pragma once

#include <atomic>
#include <cstdint>

namespace ttlogin::server {

struct alignas(64) ListenerStats {
  std::atomic<std::uint64_t> accepted{0};  // handed to the listener's factory
  std::atomic<std::uint64_t> refused{0};   // closed at accept: the listener was at its limit
  std::atomic<std::uint64_t> opened{0};    // connections counted in (Connection::CountIn)
  std::atomic<std::uint64_t> closed{0};    // of those, destroyed

  // Only from the listener's accept loop (one thread).
  void CountAccepted() { Bump(accepted); }
  // Returns the count after this refusal (for the log's throttle).
  std::uint64_t CountRefused() { return Bump(refused); }
  void CountOpened() { opened.fetch_add(1, std::memory_order_relaxed); }
  // Release, paired with the acquire in open(): whoever sees this close also sees its opening,
  // so open() is never negative.
  void CountClosed() { closed.fetch_add(1, std::memory_order_release); }

  // The four counts. closed is read first, with an acquire that pairs with CountClosed's release:
  // every opening whose closing is seen is then seen too, so opened - closed is never negative.
  struct Counts {
    std::uint64_t accepted, refused, opened, closed;
  };
  Counts Read() const {
    Counts n{};
    n.accepted = accepted.load(std::memory_order_relaxed);
    n.refused = refused.load(std::memory_order_relaxed);
    n.closed = closed.load(std::memory_order_acquire);
    n.opened = opened.load(std::memory_order_relaxed);
    return n;
  }

  // Connections alive now: the gauge behind the listener's connection cap.
  std::int64_t open() const {
    const std::uint64_t c = closed.load(std::memory_order_acquire);
    return static_cast<std::int64_t>(opened.load(std::memory_order_relaxed) - c);
  }

 private:
  static std::uint64_t Bump(std::atomic<std::uint64_t>& word) {
    const std::uint64_t n = word.load(std::memory_order_relaxed) + 1;
    word.store(n, std::memory_order_relaxed);
    return n;
  }
};

}  // namespace ttlogin::server
