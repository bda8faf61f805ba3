-- ttlogin.lua: Wireshark/tshark dissector for the TeamTalk login-tier PDU protocol.
--
-- Decodes the 16-byte PDU header (length, version, flag, service, command, seq, reserved) and the
-- protobuf bodies of the login-tier messages (IM.Server.IMMsgServInfo, IM.Server.IMUserCntUpdate,
-- IM.Other.IMHeartBeat, IM.Login.IMMsgServReq, IM.Login.IMMsgServRsp) field by field, on TCP
-- ports 8008 and 8100 by default (Edit > Preferences > Protocols > TTLOGIN to change). PDUs that
-- span segments are reassembled through Wireshark's TCP layer (dissect_tcp_pdus).
--
-- Install: copy this file to ~/.local/lib/wireshark/plugins/ (or run
-- `tshark -X lua_script:ttlogin.lua ...`). See docs/PDU_DUMP.md.
--
-- The field names and values match pdu_dump's JSON output (ttlogin.user_id <-> body.user_id), and
-- the test suite checks the two tools agree on the same captures.

local ttlogin = Proto("ttlogin", "TeamTalk login-tier PDU")

local HEADER_SIZE = 16

local services = {
  [1] = "SID_LOGIN", [2] = "SID_BUDDY_LIST", [3] = "SID_MSG", [4] = "SID_GROUP",
  [5] = "SID_FILE", [6] = "SID_SWITCH_SERVICE", [7] = "SID_OTHER", [8] = "SID_INTERNAL",
}

local result_types = {
  [0] = "REFUSE_REASON_NONE", [1] = "REFUSE_REASON_NO_MSG_SERVER",
  [2] = "REFUSE_REASON_MSG_SERVER_FULL", [3] = "REFUSE_REASON_NO_DB_SERVER",
  [4] = "REFUSE_REASON_NO_LOGIN_SERVER", [5] = "REFUSE_REASON_NO_ROUTE_SERVER",
  [6] = "REFUSE_REASON_DB_VALIDATE_FAILED", [7] = "REFUSE_REASON_VERSION_TOO_OLD",
}

local user_actions = { [1] = "USER_CNT_INC", [2] = "USER_CNT_DEC" }

local f = {
  length = ProtoField.uint32("ttlogin.length", "Length", base.DEC),
  version = ProtoField.uint16("ttlogin.version", "Version", base.DEC),
  flag = ProtoField.uint16("ttlogin.flag", "Flag", base.HEX),
  service = ProtoField.uint16("ttlogin.service", "Service", base.HEX, services),
  command = ProtoField.uint16("ttlogin.command", "Command", base.HEX),
  command_name = ProtoField.string("ttlogin.command_name", "Command name"),
  seq = ProtoField.uint16("ttlogin.seq", "Seq", base.DEC),
  reserved = ProtoField.uint16("ttlogin.reserved", "Reserved", base.HEX),
  message = ProtoField.string("ttlogin.message", "Message"),
  body = ProtoField.bytes("ttlogin.body", "Body"),
  ip1 = ProtoField.string("ttlogin.ip1", "ip1"),
  ip2 = ProtoField.string("ttlogin.ip2", "ip2"),
  port = ProtoField.uint32("ttlogin.port", "port", base.DEC),
  max_conn_cnt = ProtoField.uint32("ttlogin.max_conn_cnt", "max_conn_cnt", base.DEC),
  cur_conn_cnt = ProtoField.uint32("ttlogin.cur_conn_cnt", "cur_conn_cnt", base.DEC),
  host_name = ProtoField.string("ttlogin.host_name", "host_name"),
  user_action = ProtoField.uint32("ttlogin.user_action", "user_action", base.DEC, user_actions),
  user_id = ProtoField.uint32("ttlogin.user_id", "user_id", base.DEC),
  result_code = ProtoField.uint32("ttlogin.result_code", "result_code", base.DEC, result_types),
  prior_ip = ProtoField.string("ttlogin.prior_ip", "prior_ip"),
  backip_ip = ProtoField.string("ttlogin.backip_ip", "backip_ip"),
  unknown_field = ProtoField.string("ttlogin.unknown_field", "Unknown field"),
}
ttlogin.fields = f

local e = {
  bad_length = ProtoExpert.new("ttlogin.bad_length.expert", "PDU length out of range",
                               expert.group.MALFORMED, expert.severity.ERROR),
  bad_body = ProtoExpert.new("ttlogin.bad_body.expert", "Body is not a valid encoding",
                             expert.group.MALFORMED, expert.severity.ERROR),
  unknown = ProtoExpert.new("ttlogin.unknown.expert", "Unknown service/command",
                            expert.group.UNDECODED, expert.severity.NOTE),
}
ttlogin.experts = e

ttlogin.prefs.ports = Pref.range("TCP ports", "8008,8100", "Login-tier TCP ports", 65535)
ttlogin.prefs.max_pdu = Pref.uint("Maximum PDU size", 65536,
                                  "Lengths above this are flagged as malformed")

-- Field number -> {field, kind} per message; kind says how to read the protobuf value.
local schemas = {
  ["IM.Server.IMMsgServInfo"] = {
    [1] = { f.ip1, "string" }, [2] = { f.ip2, "string" }, [3] = { f.port, "varint" },
    [4] = { f.max_conn_cnt, "varint" }, [5] = { f.cur_conn_cnt, "varint" },
    [6] = { f.host_name, "string" },
  },
  ["IM.Server.IMUserCntUpdate"] = {
    [1] = { f.user_action, "varint" }, [2] = { f.user_id, "varint" },
  },
  ["IM.Login.IMMsgServRsp"] = {
    [1] = { f.result_code, "varint" }, [2] = { f.prior_ip, "string" },
    [3] = { f.backip_ip, "string" }, [4] = { f.port, "varint" },
  },
  ["IM.Other.IMHeartBeat"] = {},
  ["IM.Login.IMMsgServReq"] = {},
}

-- (service << 16 | command) -> command name, message name
local commands = {
  [0x00010101] = { "CID_LOGIN_REQ_MSGSERVER", "IM.Login.IMMsgServReq" },
  [0x00010102] = { "CID_LOGIN_RES_MSGSERVER", "IM.Login.IMMsgServRsp" },
  [0x00070701] = { "CID_OTHER_HEARTBEAT", "IM.Other.IMHeartBeat" },
  [0x00070709] = { "CID_OTHER_MSG_SERV_INFO", "IM.Server.IMMsgServInfo" },
  [0x0007070b] = { "CID_OTHER_USER_CNT_UPDATE", "IM.Server.IMUserCntUpdate" },
}

-- Reads a base-128 varint at `pos` of `tvb`, not past `limit`. Returns value and the next
-- position, or nil when it runs off the end or exceeds 64 bits. Lua numbers are doubles, exact up
-- to 2^53, which covers every uint32 field of these messages.
local function read_varint(tvb, pos, limit)
  local value, scale = 0, 1
  for i = 0, 9 do
    if pos + i >= limit then return nil end
    local b = tvb(pos + i, 1):uint()
    value = value + (b % 128) * scale
    if b < 128 then return value, pos + i + 1 end
    scale = scale * 128
  end
  return nil
end

-- Decodes a protobuf body in tvb[start, limit) into `tree`. Returns false when the encoding is
-- broken.
local function dissect_body(tvb, tree, start, limit, schema)
  local pos = start
  while pos < limit do
    local key, after_key = read_varint(tvb, pos, limit)
    if key == nil then return false end
    local number = math.floor(key / 8)
    local wire = key % 8
    local entry = schema[number]
    if wire == 0 then
      local value, next_pos = read_varint(tvb, after_key, limit)
      if value == nil then return false end
      local range = tvb(after_key, next_pos - after_key)
      if entry ~= nil and entry[2] == "varint" then
        tree:add(entry[1], range, value)
      else
        tree:add(f.unknown_field, range, string.format("%d: %.0f", number, value))
      end
      pos = next_pos
    elseif wire == 2 then
      local len, data_pos = read_varint(tvb, after_key, limit)
      if len == nil or data_pos + len > limit then return false end
      if entry ~= nil and entry[2] == "string" then
        if len > 0 then
          tree:add(entry[1], tvb(data_pos, len))
        else
          tree:add(entry[1], tvb(after_key, data_pos - after_key), "")
        end
      else
        tree:add(f.unknown_field, tvb(pos, data_pos + len - pos),
                 string.format("%d: %d bytes", number, len))
      end
      pos = data_pos + len
    elseif wire == 1 or wire == 5 then
      local size = wire == 1 and 8 or 4
      if after_key + size > limit then return false end
      tree:add(f.unknown_field, tvb(pos, after_key + size - pos),
               string.format("%d: fixed%d", number, size * 8))
      pos = after_key + size
    else
      return false  -- groups are not used by any IM.* message; anything else is garbage
    end
  end
  return true
end

local function pdu_length(tvb, pinfo, offset)
  local length = tvb(offset, 4):uint()
  if length < HEADER_SIZE or length > ttlogin.prefs.max_pdu then
    -- No way to find the next boundary: claim the rest of the segment and flag it.
    return tvb:len() - offset
  end
  return length
end

local function dissect_pdu(tvb, pinfo, tree)
  local length = tvb(0, 4):uint()
  local service = tvb(8, 2):uint()
  local command = tvb(10, 2):uint()
  local seq = tvb(12, 2):uint()
  local subtree = tree:add(ttlogin, tvb(), "TeamTalk PDU")
  local len_item = subtree:add(f.length, tvb(0, 4))
  subtree:add(f.version, tvb(4, 2))
  subtree:add(f.flag, tvb(6, 2))
  subtree:add(f.service, tvb(8, 2))
  subtree:add(f.command, tvb(10, 2))
  subtree:add(f.seq, tvb(12, 2))
  subtree:add(f.reserved, tvb(14, 2))
  pinfo.cols.protocol = "TTLOGIN"
  if length < HEADER_SIZE or length > ttlogin.prefs.max_pdu then
    len_item:add_proto_expert_info(e.bad_length)
    pinfo.cols.info:append(string.format(" [bad length %d]", length))
    return tvb:len()
  end
  local info = commands[service * 65536 + command]
  local name = info and info[1] or string.format("0x%04x/0x%04x", service, command)
  pinfo.cols.info:append(string.format(" %s seq=%d", name, seq))
  subtree:append_text(string.format(", %s, seq %d, %d bytes", name, seq, length))
  if length > HEADER_SIZE then subtree:add(f.body, tvb(HEADER_SIZE, length - HEADER_SIZE)) end
  if info == nil then
    subtree:add_proto_expert_info(e.unknown)
    return length
  end
  subtree:add(f.command_name, tvb(10, 2), info[1])
  subtree:add(f.message, tvb(10, 2), info[2])
  if not dissect_body(tvb, subtree, HEADER_SIZE, length, schemas[info[2]]) then
    subtree:add_proto_expert_info(e.bad_body)
  end
  return length
end

function ttlogin.dissector(tvb, pinfo, tree)
  pinfo.cols.info:clear()
  dissect_tcp_pdus(tvb, tree, HEADER_SIZE, pdu_length, dissect_pdu, true)
  return tvb:len()
end

local registered_ports = nil
local function register_ports()
  local tcp_port = DissectorTable.get("tcp.port")
  if registered_ports ~= nil then tcp_port:remove(registered_ports, ttlogin) end
  registered_ports = ttlogin.prefs.ports
  tcp_port:add(registered_ports, ttlogin)
end

function ttlogin.prefs_changed() register_ports() end

register_ports()
