#include "server/connection_handover.h"

#include "server/client_connection.h"
#include "server/http_connection.h"
#include "server/https_connection.h"
#include "server/msg_server_connection.h"
#include "server/registry/info_proto.h"

namespace ttlogin::server {

std::int64_t ToNs(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Clock::time_point FromNs(std::int64_t ns) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

namespace {

void ExportSocketPart(Connection& c, handover::ConnectionState& out) {
  out.set_peer(c.peer());
  const std::string_view output = c.unsent_output();
  if (!output.empty()) out.set_queued_output(output.data(), output.size());
  const auto input = c.held_input();
  if (!input.empty()) out.set_held_input(input.data(), input.size());
  out.set_last_received_ns(ToNs(c.last_received()));
  out.set_last_sent_ns(ToNs(c.last_sent()));
}

}  // namespace

bool IsBetweenRequests(Connection& c) {
  if (auto* m = dynamic_cast<MsgServerConnection*>(&c)) return m->Carriable();
  if (auto* cl = dynamic_cast<ClientConnection*>(&c)) return cl->Carriable();
  if (auto* h = dynamic_cast<http::HttpConnection*>(&c)) return h->Carriable();
  if (auto* t = dynamic_cast<HttpsConnection*>(&c)) return t->BetweenRequests();
  return false;
}

bool ExportConnection(Connection& c, handover::ConnectionState& out,
                      registry::ServerHandle& entry) {
  entry = {};
  if (auto* m = dynamic_cast<MsgServerConnection*>(&c)) {
    if (!m->Carriable()) return false;
    MsgServerSession& s = m->session();
    out.set_kind(handover::ConnectionState::MSG_SERVER);
    handover::MsgServerSessionState& ms = *out.mutable_msg_server();
    ms.set_link(s.link());
    const auto pending = s.pending_frame();
    if (!pending.empty()) ms.set_pending_frame(pending.data(), pending.size());
    ms.set_last_touch_ns(ToNs(s.last_touch()));
    ms.set_known_count(s.known_count());
    ms.set_host_name(s.host_name());
    entry = s.handle();
  } else if (auto* cl = dynamic_cast<ClientConnection*>(&c)) {
    if (!cl->Carriable()) return false;
    out.set_kind(handover::ConnectionState::CLIENT);
    out.set_client_accepted_ns(ToNs(cl->accepted()));
  } else if (auto* h = dynamic_cast<http::HttpConnection*>(&c)) {
    if (!h->Carriable()) return false;
    out.set_kind(h->kind() == ListenerKind::kAdmin ? handover::ConnectionState::ADMIN
                                                   : handover::ConnectionState::HTTP);
  } else {
    return false;
  }
  ExportSocketPart(c, out);
  return true;
}

void HandOverConnection(Connection& c) {
  if (auto* m = dynamic_cast<MsgServerConnection*>(&c)) m->session().Release();
  c.HandOver();
}

void AnswerLastRequest(Connection& c) {
  if (auto* h = dynamic_cast<http::HttpConnection*>(&c)) h->AnswerLastRequest();
  if (auto* t = dynamic_cast<HttpsConnection*>(&c)) t->AnswerLastRequest();
}

handover::RegistryEntry ToProto(const registry::RegistryEntryState& e) {
  handover::RegistryEntry p;
  registry::SetInfo(p, e.info);
  p.set_peer(e.meta.peer);
  p.set_registered_unix_ms(e.meta.registered_ms);
  p.set_last_heard_unix_ms(e.meta.last_heard_ms);
  p.set_warning(e.meta.warning);
  p.set_link(e.meta.link);
  p.set_held(e.held);
  p.set_settled(e.settled);
  for (const std::int64_t age : e.hold_ages_ms)
    p.add_hold_age_ms(age);
  p.set_warming(e.warming);
  p.set_warming_age_ms(e.warming_age_ms);
  return p;
}

registry::RegistryEntryState FromProto(const handover::RegistryEntry& p) {
  registry::RegistryEntryState e;
  e.info = registry::InfoOf(p);
  e.meta = registry::EntryMeta{p.peer(), p.registered_unix_ms(), p.last_heard_unix_ms(),
                               p.warning(), p.link()};
  e.held = p.held();
  e.settled = p.settled();
  e.hold_ages_ms.assign(p.hold_age_ms().begin(), p.hold_age_ms().end());
  e.warming = p.warming();
  e.warming_age_ms = p.warming_age_ms();
  return e;
}

}  // namespace ttlogin::server
