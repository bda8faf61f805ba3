// SdNotify against a fake service manager: a datagram socket the test binds, named by
// NOTIFY_SOCKET as a path or an abstract name, must receive exactly the state sent.
#include "common/sd_notify.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

namespace ttlogin::common {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kPatienceMs = 20000;

// Sets NOTIFY_SOCKET (or unsets it) for one test and restores it after.
class ScopedNotifySocket {
 public:
  explicit ScopedNotifySocket(const char* value) {
    if (const char* old = ::getenv("NOTIFY_SOCKET")) old_ = old;
    if (value != nullptr) {
      ::setenv("NOTIFY_SOCKET", value, 1);
    } else {
      ::unsetenv("NOTIFY_SOCKET");
    }
  }
  ~ScopedNotifySocket() {
    if (old_) {
      ::setenv("NOTIFY_SOCKET", old_->c_str(), 1);
    } else {
      ::unsetenv("NOTIFY_SOCKET");
    }
  }

 private:
  std::optional<std::string> old_;
};

// The fake service manager: a bound AF_UNIX datagram socket, closed (and its path removed) at
// the end of the test.
class FakeManager {
 public:
  // `name` as NOTIFY_SOCKET spells it: "/path" or "@abstract".
  explicit FakeManager(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name_.data(), name_.size());
    const bool abstract = name_[0] == '@';
    if (abstract) addr.sun_path[0] = '\0';
    const auto len =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + (abstract ? 0 : 1));
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0;
  }
  ~FakeManager() {
    if (fd_ >= 0) ::close(fd_);
    if (name_[0] == '/') ::unlink(name_.c_str());
  }
  bool bound() const { return bound_; }
  int fd() const { return fd_; }

  // One datagram, or "<nothing>" when none comes within `ms`.
  std::string Read(int ms = kPatienceMs) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return "<nothing>";
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n < 0 ? "<error>" : std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
};

std::string TempSocketPath() {
  char dir[] = "/tmp/sd_notify_test.XXXXXX";
  if (::mkdtemp(dir) == nullptr) return "";
  return std::string(dir) + "/notify";
}

std::string UniqueAbstractName() {
  static int counter = 0;
  return "@ttlogin-sd-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

TEST(SdNotifyTest, SendsTheStateToAPathSocket) {
  const std::string path = TempSocketPath();
  ASSERT_FALSE(path.empty());
  {
    FakeManager manager(path);
    ASSERT_TRUE(manager.bound());
    ScopedNotifySocket env(path.c_str());
    ASSERT_EQ(SdNotify("READY=1\nMAINPID=42"), "");
    EXPECT_EQ(manager.Read(), "READY=1\nMAINPID=42");
    ASSERT_EQ(SdNotify("STOPPING=1"), "");
    EXPECT_EQ(manager.Read(), "STOPPING=1");
  }
  ::rmdir(path.substr(0, path.rfind('/')).c_str());
}

TEST(SdNotifyTest, SendsTheStateToAnAbstractSocket) {
  const std::string name = UniqueAbstractName();
  FakeManager manager(name);
  ASSERT_TRUE(manager.bound());
  ScopedNotifySocket env(name.c_str());
  ASSERT_EQ(SdNotify("READY=1\nMAINPID=42"), "");
  EXPECT_EQ(manager.Read(), "READY=1\nMAINPID=42");
}

TEST(SdNotifyTest, WithoutTheVariableItDoesNothing) {
  const std::string name = UniqueAbstractName();
  FakeManager manager(name);
  ASSERT_TRUE(manager.bound());
  {
    ScopedNotifySocket env(nullptr);
    EXPECT_EQ(SdNotify("READY=1"), "");
  }
  {
    ScopedNotifySocket env("");
    EXPECT_EQ(SdNotify("READY=1"), "");
  }
  // Nothing went anywhere, in particular not to a socket that merely exists.
  EXPECT_EQ(manager.Read(50), "<nothing>");
}

TEST(SdNotifyTest, AMissingSocketIsAnErrorAtOnce) {
  const std::string path = TempSocketPath();
  ASSERT_FALSE(path.empty());
  ScopedNotifySocket env(path.c_str());
  const auto start = Clock::now();
  const std::string error = SdNotify("READY=1");
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
  EXPECT_EQ(error, "cannot notify the service manager at NOTIFY_SOCKET=" + path +
                       ": No such file or directory");
  ::rmdir(path.substr(0, path.rfind('/')).c_str());

  ScopedNotifySocket abstract(UniqueAbstractName().c_str());
  EXPECT_NE(SdNotify("READY=1").find("Connection refused"), std::string::npos);
}

TEST(SdNotifyTest, AMalformedAddressIsAnError) {
  {
    ScopedNotifySocket env("relative/notify");
    EXPECT_NE(SdNotify("READY=1").find("neither an absolute path nor an abstract name"),
              std::string::npos);
  }
  {
    const std::string long_path = "/" + std::string(sizeof(sockaddr_un::sun_path), 'x');
    ScopedNotifySocket env(long_path.c_str());
    EXPECT_NE(SdNotify("READY=1").find("longer than a Unix socket address"), std::string::npos);
  }
}

TEST(SdNotifyTest, AManagerThatNeverReadsMakesItFailNotBlock) {
  const std::string name = UniqueAbstractName();
  FakeManager manager(name);
  ASSERT_TRUE(manager.bound());
  ScopedNotifySocket env(name.c_str());
  // The receiving queue is bounded (net.unix.max_dgram_qlen, the receive buffer): once full, a
  // blocking sender would wait for ever. Each call must return, and one of them with an error.
  const auto start = Clock::now();
  std::string error;
  for (int i = 0; i < 100000 && error.empty(); ++i)
    error = SdNotify(std::string(1024, 'x'));
  EXPECT_NE(error.find("Resource temporarily unavailable"), std::string::npos) << error;
  EXPECT_LT(Clock::now() - start, milliseconds(kPatienceMs));
}

}  // namespace
}  // namespace ttlogin::common
