// The load generator's plumbing: a small epoll loop, non-blocking sockets, the clock, and the
// /proc readings (RSS, open descriptors, CPU time) that scenarios report about the server.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

namespace ttlogin::tools::loadgen {

std::uint64_t NowNs();  // CLOCK_MONOTONIC

// One registered file descriptor's owner: the loop calls OnEvent with the epoll event bits.
class Pollable {
 public:
  virtual ~Pollable() = default;
  virtual void OnEvent(std::uint32_t events) = 0;
};

// A level-triggered epoll set. Single-threaded: every connection of a scenario lives here.
class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void Add(int fd, std::uint32_t events, Pollable* owner);
  void Modify(int fd, std::uint32_t events, Pollable* owner);
  void Remove(int fd);
  // Waits at most `timeout_ms` and dispatches what is ready; returns the number of events.
  int RunOnce(int timeout_ms);

 private:
  int epoll_fd_;
};

// 127.0.0.1:port (or `host`, a dotted IPv4 address).
sockaddr_in MakeAddress(const std::string& host, std::uint16_t port);

// A non-blocking TCP socket with TCP_NODELAY whose connect() has been started. Returns the fd
// (connected or in progress) or -1 with errno set.
int StartConnect(const sockaddr_in& address);
// After the socket became writable: 0 when the connect succeeded, else the error number.
int ConnectResult(int fd);

// Raises the soft open-files limit to the hard limit; returns the new soft limit.
std::uint64_t RaiseOpenFilesLimit();
// Pins the calling thread to one CPU; false on failure.
bool PinToCpu(int cpu);

// Reads "VmRSS:" (or another kB field) of /proc/PID/status; -1 if unreadable.
long ReadStatusKb(int pid, const char* field);
// Open file descriptors of PID (entries of /proc/PID/fd); -1 if unreadable.
long CountOpenFds(int pid);
// User + system CPU seconds the process PID has used (all its threads); -1 if unreadable.
double ProcessCpuSeconds(int pid);
// CPU seconds this process has used.
double SelfCpuSeconds();

}  // namespace ttlogin::tools::loadgen
