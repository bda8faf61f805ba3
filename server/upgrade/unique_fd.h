// UniqueFd: sole owner of one file descriptor, closed when the owner goes away.
//
// The handover moves hundreds or thousands of descriptors between processes; every error path
// (a bad record, a limit crossed, a peer gone) must close exactly the descriptors received so
// far. Holding each one in a UniqueFd from the moment the kernel installs it makes that the
// default instead of a cleanup loop on each path.
#pragma once

#include <unistd.h>

#include <utility>

namespace ttlogin::server::upgrade {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing.
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }

  // Closes the owned descriptor (if any) and owns `fd` instead. close() is not retried on EINTR:
  // on Linux the descriptor is released even then, and a retry could close a reused number.
  void reset(int fd = -1) {
    const int old = std::exchange(fd_, fd);
    if (old >= 0) ::close(old);
  }

 private:
  int fd_ = -1;
};

}  // namespace ttlogin::server::upgrade
