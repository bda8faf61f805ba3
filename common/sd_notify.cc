#include "common/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace ttlogin::common {

std::string SdNotify(std::string_view state) {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr || *env == '\0') return "";
  const std::string_view name(env);
  auto error = [&](std::string_view what) {
    return "cannot notify the service manager at NOTIFY_SOCKET=" + std::string(name) + ": " +
           std::string(what);
  };

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // An abstract name has no terminating NUL and its length is the address length; a path may use
  // the whole sun_path but must then still fit its NUL for the kernel to read it as a path.
  const bool abstract = name.front() == '@';
  if (!abstract && name.front() != '/')
    return error("neither an absolute path nor an abstract name ('@...')");
  if (name.size() > sizeof(addr.sun_path) - (abstract ? 0 : 1))
    return error("longer than a Unix socket address");
  std::memcpy(addr.sun_path, name.data(), name.size());
  if (abstract) addr.sun_path[0] = '\0';
  const socklen_t addr_len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (abstract ? 0 : 1));

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return error(std::strerror(errno));
  ssize_t sent;
  do {
    sent = ::sendto(fd, state.data(), state.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&addr), addr_len);
  } while (sent < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (sent < 0) return error(std::strerror(err));
  if (static_cast<std::size_t>(sent) != state.size()) return error("the datagram was cut short");
  return "";
}

}  // namespace ttlogin::common
