// AddressLimiter: how many connections each peer address holds open, with a cap.
//
// The MsgServer port takes few connections (one per msg_server), so a single address opening
// thousands would otherwise fill MaxMsgServerConnections for everyone (10,000 connections from
// one address took 2.5 s, and a real msg_server's reconnect was then reset). Counted per address,
// not per connection, so memory is bounded by the listener's connection limit.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ttlogin::server {

class AddressLimiter {
 public:
  // Takes one place for `address` when it holds fewer than `limit`; false otherwise.
  [[nodiscard]] bool Acquire(std::string_view address, std::size_t limit);
  // Gives back a place taken by Acquire.
  void Release(std::string_view address);
  std::size_t Held(std::string_view address) const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::size_t> held_;
};

}  // namespace ttlogin::server
