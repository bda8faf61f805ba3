// Connection: one accepted socket's read/write loop, shared by the listeners' protocols.
//
// Every connection lives on exactly one io thread (its socket's io_context), so its state needs no
// lock. Reading waits for readability and then reads into a per-thread buffer, so an idle
// connection holds no read buffer; protocols decode straight from that buffer. Each connection
// has one deadline, implementing every timeout lazily: it fires at the earliest deadline and the
// protocol recomputes, so traffic never has to touch it. The deadlines of a loop's connections
// sit in one heap served by one asio timer (ConnectionTimers), not in an asio timer each.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio.hpp>

#include "server/net/deadline_heap.h"
#include "server/net/listener_stats.h"

namespace ttlogin::server {

class ConnectionTimers;

// The per-thread read buffer: the most input a connection ever holds while paused.
inline constexpr std::size_t kReadBufferSize = 64 * 1024;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(asio::ip::tcp::socket socket);
  virtual ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts reading; must run on the socket's own io thread.
  void Start();
  // Closes now, dropping unsent output. Idempotent.
  void Close(std::string_view reason);

  // Counts this connection in `stats`: opened now, closed when it is destroyed. At most once;
  // `stats` must outlive the connection. Listener does it for every connection it accepts.
  void CountIn(ListenerStats& stats);

  const std::string& peer() const { return peer_; }
  bool closed() const { return state_ == State::kClosed; }
  asio::any_io_executor executor() { return socket_.get_executor(); }

  // --- Live upgrade: the old process hands the socket and this state to the new one ---
  // Whether the socket side may be carried: started, open, no answer awaited (HoldInput), no
  // input kept inside the protocol, not closing. Input left unconsumed while output is over
  // budget (held_input) goes along: a client that pipelines requests and reads its answers slowly
  // is paused like that for as long as it does not read, possibly past UpgradeTimeout. The
  // protocol adds its own condition.
  bool Quiescent() const {
    return tracked_ && (state_ == State::kOpen || state_ == State::kPaused) && !input_held_ &&
           !protocol_input_;
  }
  int native_handle() { return socket_.native_handle(); }
  Clock::time_point last_received() const { return last_received_; }
  Clock::time_point last_sent() const { return last_sent_; }
  // Output the kernel has not taken yet.
  std::string_view unsent_output() const { return std::string_view(output_).substr(output_sent_); }
  // Input read from the socket but not consumed by the protocol yet (empty unless paused).
  std::span<const std::uint8_t> held_input() const { return held_input_; }
  // The new process took the socket over: forget it quietly. The descriptor is closed without
  // shutdown() (which would end the connection for the new process too), the protocol's
  // OnClose does not run (no log line, no registry removal) and no close is counted. Call on the
  // connection's loop, with the protocol already told (e.g. MsgServerSession::Release).
  void HandOver();
  // In the new process, before Start(): the carried output (sent first), the carried input
  // (handed to the protocol once that output is out, before anything new is read) and activity
  // times.
  void RestoreCarried(std::string_view queued_output, std::span<const std::uint8_t> held_input,
                      Clock::time_point last_received, Clock::time_point last_sent);

 protected:
  virtual void OnStart() {}
  // Bytes from the peer. The span is only valid during the call. Returns how many were consumed:
  // fewer than data.size() pauses the connection (output is over budget), and the rest is handed
  // out again, before anything new is read, once the peer has read the queued output. A protocol
  // must consume something when nothing is queued, so the connection always progresses.
  virtual std::size_t OnData(std::span<const std::uint8_t> data) = 0;
  // The deadline passed; the protocol checks its deadlines and calls ArmTimer again.
  virtual void OnTimer(Clock::time_point now) = 0;
  // The connection is closing (peer closed, error, or Close()). Called once.
  virtual void OnClose(std::string_view reason) { (void)reason; }

  // Queues bytes for the peer. Writes at once when possible.
  void Send(std::string_view bytes);
  // Sends what is queued (and `bytes`), then closes.
  void SendAndClose(std::string_view bytes);
  // Stops delivering further input (e.g. after a final reply).
  void StopReading();
  // Sets the one deadline (replacing the previous one): OnTimer runs once it has passed.
  void ArmTimer(Clock::time_point deadline);

  // Output bytes the kernel has not taken yet.
  std::size_t queued_output() const { return output_.size() - output_sent_; }
  // Output a protocol may still add before it must stop consuming input (0 when over budget).
  std::size_t output_room() const {
    return queued_output() >= output_budget_ ? 0 : output_budget_ - queued_output();
  }
  // Stops handing input to the protocol (held or newly read) until ReleaseInput(): the protocol
  // waits for an answer produced elsewhere, and what follows must not be parsed before it.
  void HoldInput() { input_held_ = true; }
  void ReleaseInput();
  // The protocol took all the bytes handed to it but keeps input of its own it could not parse
  // yet (TLS: plaintext already decrypted) because its output is over budget: read nothing more,
  // and once the peer has taken the queued output, call OnData with an empty span so it goes on.
  void PauseForOutput();
  // Set by the protocol from its config (MaxQueuedOutput) before Start().
  void set_output_budget(std::size_t bytes) { output_budget_ = bytes; }

 private:
  // The connection's lifecycle. Input flows only in kOpen; kPaused keeps the socket open for
  // input but reads nothing until the hold is released and the queued output has drained.
  enum class State : std::uint8_t {
    kOpen,               // reading: input goes to the protocol as it arrives
    kPaused,             // output over budget or input held; unconsumed input in held_input_
    kReadingStopped,     // StopReading(): no more input, output still flows
    kClosingAfterWrite,  // SendAndClose(): no more input, Send() ignored; closes once sent
    kClosed,             // Close(): the socket is closed, OnClose has run
  };
  // Input may still be delivered (now or after a pause).
  bool reading() const { return state_ == State::kOpen || state_ == State::kPaused; }

  void WaitReadable();
  void OnReadable(const asio::error_code& ec);
  void FlushOutput();
  void OnWritten(const asio::error_code& ec, std::size_t n);
  void OnDeadline();
  // Hands `data` to the protocol; keeps (copies) what it did not consume and pauses reading.
  // Returns true when everything was consumed.
  bool Deliver(std::span<const std::uint8_t> data);
  // Output has drained and input is no longer held: the held input goes to the protocol again,
  // then reading resumes.
  void ResumeHeldInput();
  void ScheduleResume();

  friend class ConnectionTimers;

  asio::ip::tcp::socket socket_;
  // In its loop's list of started connections (ConnectionTimers), which a live upgrade walks.
  Connection* list_prev_ = nullptr;
  Connection* list_next_ = nullptr;
  bool tracked_ = false;
  ConnectionTimers& timers_;  // the deadline heap of the socket's loop
  DeadlineSlot deadline_;     // this connection's place in timers_
  ListenerStats* stats_ = nullptr;
  std::string peer_;
  std::string output_;           // bytes not yet accepted by the kernel
  std::size_t output_sent_ = 0;  // prefix of output_ already written
  std::size_t output_budget_ = 64 * 1024;
  State state_ = State::kOpen;
  // Facts that hold in several states, so they are not states themselves:
  // - a wait for writability is pending (its handler still runs after a Close);
  bool write_in_flight_ = false;
  // - ResumeHeldInput is posted and not run yet (at most one post at a time);
  bool resume_posted_ = false;
  // - the protocol's HoldInput(): it may be asked while reading and lasts across a pause for
  //   output, so reading resumes only once it is released and the output has drained;
  bool input_held_ = false;
  // - the protocol keeps input of its own (PauseForOutput): OnData({}) when resuming;
  bool protocol_input_ = false;
  // - the last read filled its buffer: more is probably waiting (read scheduling only).
  bool streaming_ = false;
  std::uint32_t drained_seen_ = 0;  // the loop's drained-read count at that read
  // Input the protocol left unconsumed when output went over budget (at most one read buffer);
  // empty, with no capacity, otherwise.
  std::vector<std::uint8_t> held_input_;
  Clock::time_point last_received_;
  Clock::time_point last_sent_;
};

// Peer as "ip:port" (IPv6 in brackets), or "?" when the socket has no peer.
std::string FormatEndpoint(const asio::ip::tcp::endpoint& endpoint);

}  // namespace ttlogin::server
