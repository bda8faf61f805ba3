// ReplayDriver: where a replay's events go. The engine owns the trace, the model and the timing;
// a driver only delivers events and asks the questions, so the network replay and the in-process
// replay differ in nothing but this class.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/load_replay/choice_model.h"
#include "tools/load_replay/trace_event.h"

namespace ttlogin::tools::replay {

// A msg_server address as an answer carries it.
struct AnswerAddress {
  std::string ip1;
  std::string ip2;
  std::uint32_t port = 0;
};

// One answer to "which msg_server should I use?", whichever way it was asked.
struct ServerAnswer {
  std::uint32_t code = 0;
  std::string ip1;
  std::string ip2;
  std::uint32_t port = 0;
  // The further candidates the reply listed (HTTP and in process; the PDU reply has none), and
  // whether the reply could carry them at all.
  std::vector<AnswerAddress> candidates;
  bool has_candidates = false;
  // Non-empty when the reply broke the wire contract (wrong seq, port not a string, ...): then it
  // is a mismatch whatever the fields say.
  std::string problem;
};

struct DriverNotes {
  std::vector<std::string> warnings;  // worth reading (a connection the server dropped, ...)
  std::vector<std::string> failures;  // a disagreement with the model: the replay fails
};

class ReplayDriver {
 public:
  virtual ~ReplayDriver() = default;

  // Human-readable target, for the summary.
  virtual std::string Describe() const = 0;

  // Delivers one non-query event of msg_server `event.ms`. `info` is set for a register.
  // Returns an empty string, or why the transport failed (the replay then stops: exit 2).
  virtual std::string Send(const Event& event, const ServerInfo* info) = 0;

  // The trace time (ms) of the event about to be delivered or asked; a driver with a clock it
  // controls (in process) moves it there.
  virtual void SetTime(std::int64_t /*t_ms*/) {}

  // Pushes out anything buffered, so that the server can see every event sent so far.
  virtual std::string Flush() = 0;

  // Called before a query whose answer must be exact against the model (assignment holds): a
  // driver whose queries can overtake updates waits here until the server has applied every
  // update sent so far. Returns an empty string, or why that could not be established.
  virtual std::string Sync(const ChoiceModel& /*model*/) { return {}; }

  // Asks once. Returns an empty string, or why the transport failed.
  virtual std::string Query(QueryVia via, ServerAnswer& answer) = 0;

  // True when a query can overtake earlier updates (they travel on other connections), so a
  // disagreeing answer is asked again until a bound passes.
  virtual bool eventually_consistent() const = 0;

  // Closes every connection. `model` holds the state the trace ends in; a driver that can see the
  // registry directly compares it.
  virtual DriverNotes Finish(const ChoiceModel& model, const Trace& trace) = 0;
};

}  // namespace ttlogin::tools::replay
