// What a live upgrade carries of each kind of connection, and how the new process rebuilds it.
//
// A connection is carried only between requests: a msg_server link always (with the bytes of a
// half-received frame and its registry entry), a Client-port connection before its request's
// first byte, an HTTP or admin connection with no request begun and no answer pending (with the
// pipelined requests it read but did not parse while its peer was not reading). Any other
// connection stays with the old process, which finishes its request and closes it; so does every
// HTTPS connection (its keys live in OpenSSL), closed between requests once the new process serves.
#pragma once

#include <memory>
#include <string>

#include <asio.hpp>

#include "server/net/connection.h"
#include "server/registry/msg_server_registry.h"
#include "ttlogin_handover.pb.h"

namespace ttlogin::server {

// Steady-clock (CLOCK_MONOTONIC) times as the handover carries them: one host, one clock.
std::int64_t ToNs(Clock::time_point t);
Clock::time_point FromNs(std::int64_t ns);

// Whether `c` is between requests (see the file comment): it may be carried, or, in the old
// process after the commit, closed.
bool IsBetweenRequests(Connection& c);

// Fills `out` (all but fd_index) when `c` may be carried now, else returns false. `entry` gets
// a msg_server link's registry entry (invalid when it has none). Run on c's loop, or while that
// loop is parked.
bool ExportConnection(Connection& c, handover::ConnectionState& out, registry::ServerHandle& entry);

// The old process, after the commit, on c's loop: the protocol forgets what the new process now
// owns (a msg_server's entry), then the socket is let go without shutdown.
void HandOverConnection(Connection& c);

// The old process, after the commit, on c's loop, for a connection it kept: its request's answer
// is its last (an HTTP answer says "Connection: close"), so no client sends another request into
// a connection about to close with the process.
void AnswerLastRequest(Connection& c);

handover::RegistryEntry ToProto(const registry::RegistryEntryState& e);
registry::RegistryEntryState FromProto(const handover::RegistryEntry& e);

}  // namespace ttlogin::server
