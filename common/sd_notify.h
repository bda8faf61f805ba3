// SdNotify: tells the service manager about this process's state, as systemd's sd_notify(3)
// does, without linking libsystemd.
//
// The protocol is one datagram of newline-separated VAR=value lines ("READY=1",
// "MAINPID=1234", "STOPPING=1") on the AF_UNIX socket named by $NOTIFY_SOCKET: a path, or an
// abstract name written with a leading '@'. systemd reads the sender's credentials from the
// socket itself, so nothing else is sent. A live upgrade uses it so that the unit follows the new
// process (MAINPID=) instead of counting the old one's exit as the service's end.
#pragma once

#include <string>
#include <string_view>

namespace ttlogin::common {

// Sends `state` to $NOTIFY_SOCKET. "" when sent, and when the variable is unset or empty (not
// started by a service manager that listens: nothing to do); otherwise the reason. Never blocks:
// a listener that does not read makes it fail, not wait.
[[nodiscard]] std::string SdNotify(std::string_view state);

}  // namespace ttlogin::common
