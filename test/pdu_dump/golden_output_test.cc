// Golden output: the exact text and JSON lines for a small capture that holds one of each kind
// of line (known messages, an escaped string, an unknown command, a body missing a required
// field, a body that does not parse, a bad length). The expected lines were written by hand from
// docs/PROTOCOL.md and docs/PDU_DUMP.md; a change here is a change of the tool's interface.
#include <gtest/gtest.h>

#include "test/pdu_dump/decode_helpers.h"
#include "test/pdu_dump/fixtures.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

std::string GoldenCapture() {
  Conversation a(kLinkTypeEthernet, V4("10.0.0.5", 40000), V4("10.0.0.1", 8100));
  std::vector<std::string> frames = a.Handshake();
  frames.push_back(
      a.Data(Side::kClient, ServInfo(1, "10.0.0.5", "10.0.1.5", 8000, 1000, 0, "msg \"a\"\n")));
  frames.push_back(a.Data(Side::kClient, UserCnt(2, 1, 5001)));
  frames.push_back(a.Data(Side::kServer, Heartbeat(9)));
  frames.push_back(a.Data(Side::kClient, RawPdu(19, 3, 0x0301, 4, "\x01\x02\x03")));
  frames.push_back(a.Data(Side::kClient, RawPdu(18, 7, 0x070b, 5, "\x08\x01")));
  frames.push_back(a.Data(Side::kClient, RawPdu(18, 7, 0x070b, 6, "\xff\xff")));
  frames.push_back(a.Data(Side::kClient, RawPdu(8, 7, 0x0701, 7, "")));
  Conversation b(kLinkTypeEthernet, V6("2001:db8::9", 51000), V6("2001:db8::1", 8008));
  frames.push_back(b.Data(Side::kClient, MsgServReq(3)));
  frames.push_back(b.Data(Side::kServer, MsgServRsp(3, 2, "", "", 0)));
  return MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, frames);
}

TEST(GoldenOutput, Text) {
  const DecodeOutcome out = DecodeCapture(GoldenCapture(), OutputFormat::kText);
  const std::string expected =
      "2023-11-14T22:13:20.003000Z 10.0.0.5:40000 -> 10.0.0.1:8100 len=54 SID_OTHER(0x0007) "
      "CID_OTHER_MSG_SERV_INFO(0x0709) seq=1 IM.Server.IMMsgServInfo { ip1: \"10.0.0.5\" "
      "ip2: \"10.0.1.5\" port: 8000 max_conn_cnt: 1000 cur_conn_cnt: 0 "
      "host_name: \"msg \\\"a\\\"\\n\" }\n"
      "2023-11-14T22:13:20.004000Z 10.0.0.5:40000 -> 10.0.0.1:8100 len=21 SID_OTHER(0x0007) "
      "CID_OTHER_USER_CNT_UPDATE(0x070b) seq=2 IM.Server.IMUserCntUpdate { user_action: 1 "
      "user_id: 5001 }\n"
      "2023-11-14T22:13:20.005000Z 10.0.0.1:8100 -> 10.0.0.5:40000 len=16 SID_OTHER(0x0007) "
      "CID_OTHER_HEARTBEAT(0x0701) seq=9 IM.Other.IMHeartBeat { }\n"
      "2023-11-14T22:13:20.006000Z 10.0.0.5:40000 -> 10.0.0.1:8100 len=19 SID_MSG(0x0003) "
      "0x0301 seq=4 body(3)=010203\n"
      "2023-11-14T22:13:20.007000Z 10.0.0.5:40000 -> 10.0.0.1:8100 len=18 SID_OTHER(0x0007) "
      "CID_OTHER_USER_CNT_UPDATE(0x070b) seq=5 IM.Server.IMUserCntUpdate { user_action: 1 } "
      "ERROR: missing required field(s): user_id\n"
      "2023-11-14T22:13:20.008000Z 10.0.0.5:40000 -> 10.0.0.1:8100 len=18 SID_OTHER(0x0007) "
      "CID_OTHER_USER_CNT_UPDATE(0x070b) seq=6 IM.Server.IMUserCntUpdate body(2)=ffff "
      "ERROR: body does not parse as IM.Server.IMUserCntUpdate\n"
      "2023-11-14T22:13:20.009000Z 10.0.0.5:40000 -> 10.0.0.1:8100 ERROR at stream offset 130: "
      "PDU length 8 is below the 16-byte header\n"
      "2023-11-14T22:13:20.010000Z [2001:db8::9]:51000 -> [2001:db8::1]:8008 len=16 "
      "SID_LOGIN(0x0001) CID_LOGIN_REQ_MSGSERVER(0x0101) seq=3 IM.Login.IMMsgServReq { }\n"
      "2023-11-14T22:13:20.011000Z [2001:db8::1]:8008 -> [2001:db8::9]:51000 len=18 "
      "SID_LOGIN(0x0001) CID_LOGIN_RES_MSGSERVER(0x0102) seq=3 IM.Login.IMMsgServRsp { "
      "result_code: REFUSE_REASON_MSG_SERVER_FULL }\n";
  EXPECT_EQ(out.output, expected);
  EXPECT_EQ(out.stats.errors(), 3u);
}

TEST(GoldenOutput, Json) {
  const DecodeOutcome out = DecodeCapture(GoldenCapture(), OutputFormat::kJson);
  const std::string prefix_a =
      R"({"ts":1700000000.00X000,"src":"10.0.0.5:40000","dst":"10.0.0.1:8100",)";
  auto at = [&](char digit, const std::string& rest) {
    std::string p = prefix_a;
    p[p.find('X')] = digit;
    return p + rest + "\n";
  };
  const std::string expected =
      at('3',
         R"("offset":0,"length":54,"service":7,"command":1801,"seq":1,"service_name":"SID_OTHER",)"
         R"("command_name":"CID_OTHER_MSG_SERV_INFO","name":"IM.Server.IMMsgServInfo","body":)"
         R"({"ip1":"10.0.0.5","ip2":"10.0.1.5","port":8000,"max_conn_cnt":1000,)"
         R"("cur_conn_cnt":0,"host_name":"msg \"a\"\n"}})") +
      at('4',
         R"("offset":54,"length":21,"service":7,"command":1803,"seq":2,"service_name":"SID_OTHER",)"
         R"("command_name":"CID_OTHER_USER_CNT_UPDATE","name":"IM.Server.IMUserCntUpdate",)"
         R"("body":{"user_action":1,"user_id":5001}})") +
      R"({"ts":1700000000.005000,"src":"10.0.0.1:8100","dst":"10.0.0.5:40000","offset":0,)"
      R"("length":16,"service":7,"command":1793,"seq":9,"service_name":"SID_OTHER",)"
      R"("command_name":"CID_OTHER_HEARTBEAT","name":"IM.Other.IMHeartBeat","body":{}})"
      "\n" +
      at('6',
         R"("offset":75,"length":19,"service":3,"command":769,"seq":4,"service_name":"SID_MSG",)"
         R"("command_name":null,"name":null,"body":null,"body_base64":"AQID"})") +
      at('7',
         R"("offset":94,"length":18,"service":7,"command":1803,"seq":5,"service_name":"SID_OTHER",)"
         R"("command_name":"CID_OTHER_USER_CNT_UPDATE","name":"IM.Server.IMUserCntUpdate",)"
         R"("body":{"user_action":1},"error":"missing required field(s): user_id"})") +
      at('8', R"("offset":112,"length":18,"service":7,"command":1803,"seq":6,)"
              R"("service_name":"SID_OTHER","command_name":"CID_OTHER_USER_CNT_UPDATE",)"
              R"("name":"IM.Server.IMUserCntUpdate","body":null,"body_base64":"//8=",)"
              R"("error":"body does not parse as IM.Server.IMUserCntUpdate"})") +
      at('9', R"("offset":130,"length":null,"service":null,"command":null,"seq":null,"name":null,)"
              R"("body":null,"error":"PDU length 8 is below the 16-byte header"})") +
      R"({"ts":1700000000.010000,"src":"[2001:db8::9]:51000","dst":"[2001:db8::1]:8008",)"
      R"("offset":0,"length":16,"service":1,"command":257,"seq":3,"service_name":"SID_LOGIN",)"
      R"("command_name":"CID_LOGIN_REQ_MSGSERVER","name":"IM.Login.IMMsgServReq","body":{}})"
      "\n"
      R"({"ts":1700000000.011000,"src":"[2001:db8::1]:8008","dst":"[2001:db8::9]:51000",)"
      R"("offset":0,"length":18,"service":1,"command":258,"seq":3,"service_name":"SID_LOGIN",)"
      R"("command_name":"CID_LOGIN_RES_MSGSERVER","name":"IM.Login.IMMsgServRsp",)"
      R"("body":{"result_code":"REFUSE_REASON_MSG_SERVER_FULL"}})"
      "\n";
  EXPECT_EQ(out.output, expected);
  // Every line is JSON with the documented keys.
  for (const auto& j : ParseLines(out.output)) {
    for (const char* key :
         {"ts", "src", "dst", "length", "service", "command", "seq", "name", "body"}) {
      EXPECT_TRUE(j.contains(key)) << key << " missing in " << j.dump();
    }
  }
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump
