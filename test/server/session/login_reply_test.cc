#include "server/session/login_reply.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "IM.Login.pb.h"
#include "common/frame_decoder.h"
#include "common/protocol.h"

namespace ttlogin::server {
namespace {

registry::Choice Ok() {
  registry::Choice c;
  c.code = registry::ChooseCode::kOk;
  c.ip1 = "192.168.1.150";
  c.ip2 = "192.168.1.151";
  c.port = 8000;
  return c;
}

TEST(LoginReplyTest, SuccessJsonHasEveryClassicKeyWithPortAsString) {
  const auto j = nlohmann::json::parse(
      BuildMsgServerJson(Ok(), "http://192.168.1.150:8700/", "http://192.168.1.150/api/discovery"));
  EXPECT_EQ(j["code"], 0);
  EXPECT_EQ(j["msg"], "");
  EXPECT_EQ(j["priorIP"], "192.168.1.150");
  EXPECT_EQ(j["backupIP"], "192.168.1.151");
  ASSERT_TRUE(j["port"].is_string());
  EXPECT_EQ(j["port"], "8000");
  EXPECT_EQ(j["msfsPrior"], "http://192.168.1.150:8700/");
  EXPECT_EQ(j["msfsBackup"], "http://192.168.1.150:8700/");
  EXPECT_EQ(j["discovery"], "http://192.168.1.150/api/discovery");
  EXPECT_EQ(j.size(), 8u);
}

TEST(LoginReplyTest, PreferringIp2SwapsPriorAndBackupInJsonAndPdu) {
  const auto j = nlohmann::json::parse(BuildMsgServerJson(Ok(), "m", "d", true));
  EXPECT_EQ(j["priorIP"], "192.168.1.151");
  EXPECT_EQ(j["backupIP"], "192.168.1.150");
  std::string pdu;
  AppendMsgServRspPdu(pdu, Ok(), 9, true);
  IM::Login::IMMsgServRsp rsp;
  ASSERT_TRUE(rsp.ParseFromArray(pdu.data() + common::kPduHeaderSize,
                                 static_cast<int>(pdu.size() - common::kPduHeaderSize)));
  EXPECT_EQ(rsp.prior_ip(), "192.168.1.151");
  EXPECT_EQ(rsp.backip_ip(), "192.168.1.150");
}

TEST(LoginReplyTest, CandidatesFollowTheClassicKeysInTheSameAddressOrder) {
  registry::Choice c = Ok();
  c.candidates.push_back({"10.0.0.2", "10.1.0.2", 8002, {}});
  c.candidates.push_back({"10.0.0.3", "10.1.0.\"3", 8003, {}});
  const std::string text = BuildMsgServerJson(c, "m", "d");
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j.size(), 9u);
  ASSERT_EQ(j["candidates"].size(), 2u);
  EXPECT_EQ(j["candidates"][0],
            nlohmann::json({{"ip", "10.0.0.2"}, {"backupIP", "10.1.0.2"}, {"port", "8002"}}));
  EXPECT_EQ(j["candidates"][1]["backupIP"], "10.1.0.\"3");
  EXPECT_EQ(j["priorIP"], "192.168.1.150");
  const auto swapped = nlohmann::json::parse(BuildMsgServerJson(c, "m", "d", true));
  EXPECT_EQ(swapped["candidates"][0]["ip"], "10.1.0.2");
  EXPECT_EQ(swapped["candidates"][0]["backupIP"], "10.0.0.2");
  // Without candidates the body is byte-identical to the classic one.
  EXPECT_EQ(BuildMsgServerJson(Ok(), "m", "d").find("candidates"), std::string::npos);
}

TEST(LoginReplyTest, FailureJsonCarriesCodeAndMessageOnly) {
  registry::Choice none;
  none.code = registry::ChooseCode::kNoMsgServer;
  auto j = nlohmann::json::parse(BuildMsgServerJson(none, "m", "d"));
  EXPECT_EQ(j["code"], 1);
  EXPECT_EQ(j.size(), 2u);
  EXPECT_FALSE(j.contains("priorIP"));
  registry::Choice full;
  full.code = registry::ChooseCode::kAllFull;
  j = nlohmann::json::parse(BuildMsgServerJson(full, "m", "d"));
  EXPECT_EQ(j["code"], 2);
  EXPECT_EQ(j.size(), 2u);
}

// The classic server's failure texts, written here as UTF-8 source text (the header spells them
// as byte escapes), so a wrong byte on either side fails.
TEST(LoginReplyTest, ErrorRepliesCarryTheClassicTextsByteForByte) {
  const std::string no_msg_server = "没有msg_server";
  const std::string all_full = "负载过高";
  // Guards against the test file itself being read in another encoding: 2 and 4 CJK characters
  // of 3 UTF-8 bytes each.
  ASSERT_EQ(no_msg_server.size(), 2 * 3 + 10u);
  ASSERT_EQ(all_full.size(), 4 * 3u);

  registry::Choice none;
  none.code = registry::ChooseCode::kNoMsgServer;
  EXPECT_EQ(BuildMsgServerJson(none, "m", "d"), R"({"code":1,"msg":")" + no_msg_server + R"("})");
  registry::Choice full;
  full.code = registry::ChooseCode::kAllFull;
  EXPECT_EQ(BuildMsgServerJson(full, "m", "d"), R"({"code":2,"msg":")" + all_full + R"("})");

  // Raw UTF-8 with no "\\u" escapes, as the classic server wrote them: a client that does not
  // decode such escapes still shows the same characters, and one that does reads the same string.
  const auto j = nlohmann::json::parse(BuildMsgServerJson(none, "m", "d"));
  EXPECT_EQ(j["msg"].get<std::string>(), no_msg_server);
  EXPECT_EQ(nlohmann::json::parse(BuildMsgServerJson(full, "m", "d"))["msg"].get<std::string>(),
            all_full);
  EXPECT_EQ(ChooseCodeText(registry::ChooseCode::kOk), "");
}

TEST(LoginReplyTest, InvalidUtf8FromAMsgServerDoesNotBreakTheJson) {
  registry::Choice c = Ok();
  c.ip1 = std::string("\xff\xfe\"<>", 5);
  const auto j = nlohmann::json::parse(BuildMsgServerJson(c, "", ""), nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["code"], 0);
}

TEST(LoginReplyTest, StringsAreEscapedAndUtf8IsKeptOrReplaced) {
  registry::Choice c = Ok();
  c.ip1 = "a\"b\\c\n\x01\x7f";             // quote, backslash, control bytes, DEL
  c.ip2 = "\xe4\xb8\xad\xf0\x9f\x98\x80";  // valid 3- and 4-byte sequences stay as they are
  const std::string msfs = "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe4\xb8";  // overlong,
                                                                               // surrogate,
                                                                               // >U+10FFFF,
                                                                               // truncated
  const std::string text = BuildMsgServerJson(c, msfs, "d");
  const auto j = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << text;
  EXPECT_EQ(j["priorIP"], "a\"b\\c\n\x01\x7f");
  EXPECT_EQ(j["backupIP"], "\xe4\xb8\xad\xf0\x9f\x98\x80");
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(j["msfsPrior"], fffd + fffd + "|" + fffd + fffd + fffd + "|" + fffd + fffd + fffd +
                                fffd + "|" + fffd + fffd);
  EXPECT_EQ(j["discovery"], "d");
}

TEST(LoginReplyTest, PduReplyCarriesSeqAndFields) {
  std::string out;
  AppendMsgServRspPdu(out, Ok(), 0x1234);
  const auto r = common::DecodeFrame(
      {reinterpret_cast<const std::uint8_t*>(out.data()), out.size()}, common::kDefaultMaxPduSize);
  ASSERT_EQ(r.status, common::DecodeStatus::kFrame);
  EXPECT_EQ(r.consumed, out.size());
  EXPECT_EQ(r.frame.header.service_id, common::kSidLogin);
  EXPECT_EQ(r.frame.header.command_id, common::kCidLoginResMsgServer);
  EXPECT_EQ(r.frame.header.seq_num, 0x1234);
  IM::Login::IMMsgServRsp rsp;
  ASSERT_TRUE(rsp.ParseFromArray(r.frame.body.data(), static_cast<int>(r.frame.body.size())));
  EXPECT_EQ(rsp.result_code(), IM::BaseDefine::REFUSE_REASON_NONE);
  EXPECT_EQ(rsp.prior_ip(), "192.168.1.150");
  EXPECT_EQ(rsp.backip_ip(), "192.168.1.151");
  EXPECT_EQ(rsp.port(), 8000u);
}

TEST(LoginReplyTest, PduFailureReplyHasOnlyTheResultCode) {
  registry::Choice full;
  full.code = registry::ChooseCode::kAllFull;
  std::string out;
  AppendMsgServRspPdu(out, full, 1);
  IM::Login::IMMsgServRsp rsp;
  ASSERT_TRUE(rsp.ParseFromArray(out.data() + 16, static_cast<int>(out.size() - 16)));
  EXPECT_EQ(rsp.result_code(), IM::BaseDefine::REFUSE_REASON_MSG_SERVER_FULL);
  EXPECT_FALSE(rsp.has_prior_ip());
  EXPECT_FALSE(rsp.has_port());
}

}  // namespace
}  // namespace ttlogin::server
