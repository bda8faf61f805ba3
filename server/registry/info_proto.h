#pragma once

#include "server/registry/registry_types.h"

namespace ttlogin::registry {

// A msg_server's registration as kept in the handover state (handover::RegistryEntry) and in the
// warm start snapshot (state::MsgServerEntry): both messages give these six fields the same names
// and numbers, so one pair of functions writes and reads them for either.
template <class Proto>
void SetInfo(Proto& p, const MsgServerInfo& info) {
  p.set_ip1(info.ip1);
  p.set_ip2(info.ip2);
  p.set_port(info.port);
  p.set_max_conn_cnt(info.max_conn_cnt);
  p.set_cur_conn_cnt(info.cur_conn_cnt);
  p.set_host_name(info.host_name);
}

template <class Proto>
MsgServerInfo InfoOf(const Proto& p) {
  return MsgServerInfo{p.ip1(),          p.ip2(),          p.port(),
                       p.max_conn_cnt(), p.cur_conn_cnt(), p.host_name()};
}

}  // namespace ttlogin::registry
