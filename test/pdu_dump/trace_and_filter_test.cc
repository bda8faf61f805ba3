// --trace (load-replay events from captured load reports), --filter, and the message printer's
// corner cases (escaping, invalid UTF-8, bytes fields, unknown fields).
#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>

#include "test/pdu_dump/decode_helpers.h"
#include "test/pdu_dump/fixtures.h"
#include "tools/pdu_dump/message_printer.h"
#include "tools/pdu_dump/pdu_filter.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

TEST(Trace, TurnsLoadReportsIntoReplayEvents) {
  Conversation a(kLinkTypeEthernet, V4("10.0.0.5", 40000), V4("10.0.0.1", 8100));
  Conversation c(kLinkTypeEthernet, V4("10.0.0.9", 51000), V4("10.0.0.1", 8008));
  std::vector<std::string> frames = a.Handshake();  // t 0..2 ms
  frames.push_back(a.Data(Side::kClient, ServInfo(0, "10.0.0.5", "10.0.1.5", 8000, 1000, 3,
                                                  "msg-a")));                    // 3 ms
  frames.push_back(a.Data(Side::kClient, UserCnt(0, 1, 1) + UserCnt(0, 1, 2)));  // 4 ms
  frames.push_back(a.Data(Side::kServer, Heartbeat(0)));      // 5 ms: the login server's, no event
  frames.push_back(a.Data(Side::kClient, UserCnt(0, 2, 1)));  // 6 ms
  frames.push_back(a.Data(Side::kClient, UserCnt(0, 9, 1)));  // 7 ms: unknown action, no event
  frames.push_back(a.Data(Side::kClient, Heartbeat(0)));      // 8 ms
  for (const auto& f : c.Handshake())
    frames.push_back(f);                                   // 9..11 ms
  frames.push_back(c.Data(Side::kClient, MsgServReq(1)));  // 12 ms
  frames.push_back(a.Fin(Side::kClient));                  // 13 ms
  DumpConfig dump;
  dump.quiet = true;
  const DecodeOutcome out =
      DecodeCapture(MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, frames),
                    OutputFormat::kJson, {}, dump, /*with_trace=*/true);
  const std::string expected =
      R"({"t":0,"ms":"10.0.0.5:40000","ev":"register","ip1":"10.0.0.5","ip2":"10.0.1.5",)"
      R"("port":8000,"max":1000,"cur":3,"host":"msg-a"})"
      "\n"
      R"({"t":1,"ms":"10.0.0.5:40000","ev":"inc","n":1})"
      "\n"
      R"({"t":1,"ms":"10.0.0.5:40000","ev":"inc","n":1})"
      "\n"
      R"({"t":3,"ms":"10.0.0.5:40000","ev":"dec"})"
      "\n"
      R"({"t":5,"ms":"10.0.0.5:40000","ev":"heartbeat"})"
      "\n"
      R"({"t":9,"ev":"query","via":"pdu"})"
      "\n"
      R"({"t":10,"ms":"10.0.0.5:40000","ev":"close"})"
      "\n";
  EXPECT_EQ(out.trace, expected);
  EXPECT_TRUE(out.output.empty()) << "--quiet prints no PDU lines";
}

TEST(Trace, AReconnectFromTheSameAddressGetsANewName) {
  std::vector<std::string> frames;
  for (std::uint32_t isn : {100u, 900000u}) {
    Conversation a(kLinkTypeEthernet, V4("10.0.0.5", 40000), V4("10.0.0.1", 8100), isn, 1);
    for (const auto& f : a.Handshake())
      frames.push_back(f);
    frames.push_back(a.Data(Side::kClient, ServInfo(0, "10.0.0.5", "", 8000, 10, 0, "m")));
    frames.push_back(a.Rst(Side::kClient));
  }
  const DecodeOutcome out =
      DecodeCapture(MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, frames),
                    OutputFormat::kJson, {}, {}, /*with_trace=*/true);
  const auto events = ParseLines(out.trace);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0]["ms"], "10.0.0.5:40000");
  EXPECT_EQ(events[1]["ev"], "close");
  EXPECT_EQ(events[2]["ms"], "10.0.0.5:40000#2");
  EXPECT_EQ(events[3]["ms"], "10.0.0.5:40000#2");
  std::int64_t last = -1;
  for (const auto& e : events) {
    EXPECT_GE(e["t"].get<std::int64_t>(), last);
    last = e["t"].get<std::int64_t>();
  }
}

TEST(Filter, SelectsByServiceCommandAndPort) {
  const Scenario s = LoginTierScenario(kLinkTypeEthernet, false);
  const std::string cap = MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, s.frames);
  auto run = [&](std::vector<std::string> exprs) {
    DumpConfig dump;
    for (const auto& e : exprs)
      EXPECT_EQ(dump.filter.Add(e), "");
    return CommandSeqs(ParseLines(DecodeCapture(cap, OutputFormat::kJson, {}, dump).output));
  };
  EXPECT_EQ(run({"command=CID_OTHER_HEARTBEAT"}), (std::vector<std::string>{"701@1", "701@4"}));
  EXPECT_EQ(run({"command=0x0709,cid_login_req_msgserver"}),
            (std::vector<std::string>{"709@1", "101@7"}));
  EXPECT_EQ(run({"service=LOGIN"}), (std::vector<std::string>{"101@7", "102@7"}));
  EXPECT_EQ(run({"service=SID_OTHER", "command=1803"}),
            (std::vector<std::string>{"70b@2", "70b@3", "70b@5", "70b@6", "70b@5"}));
  EXPECT_EQ(run({"port=8008"}), (std::vector<std::string>{"101@7", "102@7"}));
  EXPECT_EQ(run({"port=51000", "service=7"}), std::vector<std::string>{});
}

TEST(Filter, RejectsWhatItCannotUnderstand) {
  PduFilter f;
  EXPECT_NE(f.Add("command"), "");
  EXPECT_NE(f.Add("colour=red"), "");
  EXPECT_NE(f.Add("command=CID_NOPE"), "");
  EXPECT_NE(f.Add("port=70000"), "");
  EXPECT_NE(f.Add("service="), "");
  EXPECT_TRUE(f.empty());
}

TEST(MessagePrinter, EscapesStringsForTextAndJson) {
  std::string text;
  AppendCEscaped(std::string("a\"b\\c\n\x01\xff", 8), text);
  EXPECT_EQ(text, R"("a\"b\\c\n\001\377")");
  std::string json;
  AppendJsonString(std::string("a\"\x01\xc3\xa9\xff", 6), json);
  // é stays UTF-8, a stray 0xff byte becomes U+FFFD, the control byte is escaped.
  EXPECT_EQ(json, "\"a\\\"\\u0001\xc3\xa9\xef\xbf\xbd\"");
}

TEST(MessagePrinter, Base64MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, want] : vectors) {
    std::string out;
    const std::string s(in);
    AppendBase64({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}, out);
    EXPECT_EQ(out, want) << in;
  }
}

TEST(MessagePrinter, PrintsBytesRepeatedNestedAndUnknownFields) {
  // The login-tier messages have no bytes, repeated or nested fields; a message built at run time
  // covers those paths of the printer, which any future message type would take.
  google::protobuf::FileDescriptorProto file;
  file.set_name("printer_test.proto");
  file.set_package("t");
  file.set_syntax("proto2");
  auto* inner = file.add_message_type();
  inner->set_name("Inner");
  auto* v = inner->add_field();
  v->set_name("v");
  v->set_number(1);
  v->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  v->set_type(google::protobuf::FieldDescriptorProto::TYPE_SINT64);
  auto* outer = file.add_message_type();
  outer->set_name("Outer");
  auto add = [&](const char* name, int number, google::protobuf::FieldDescriptorProto::Type type,
                 bool repeated) {
    auto* f = outer->add_field();
    f->set_name(name);
    f->set_number(number);
    f->set_label(repeated ? google::protobuf::FieldDescriptorProto::LABEL_REPEATED
                          : google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
    f->set_type(type);
    return f;
  };
  add("blob", 1, google::protobuf::FieldDescriptorProto::TYPE_BYTES, false);
  add("ids", 2, google::protobuf::FieldDescriptorProto::TYPE_UINT64, true);
  add("inner", 3, google::protobuf::FieldDescriptorProto::TYPE_MESSAGE, false)
      ->set_type_name(".t.Inner");
  add("ok", 4, google::protobuf::FieldDescriptorProto::TYPE_BOOL, false);
  google::protobuf::DescriptorPool pool;
  ASSERT_NE(pool.BuildFile(file), nullptr);
  google::protobuf::DynamicMessageFactory factory(&pool);
  std::unique_ptr<google::protobuf::Message> m(
      factory.GetPrototype(pool.FindMessageTypeByName("t.Outer"))->New());
  // blob = "\x00\xff", ids = [1, 18446744073709551615], inner.v = -3, ok = true, and field 9
  // (varint 5) which the descriptor does not know.
  const std::string wire(
      "\x0a\x02\x00\xff\x10\x01\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
      "\x1a\x02\x08\x05\x20\x01\x48\x05",
      25);
  ASSERT_TRUE(m->ParseFromString(wire));
  MessagePrinter printer;
  std::string text;
  printer.AppendText(*m, text);
  EXPECT_EQ(text,
            R"(blob: "\000\377" ids: 1 ids: 18446744073709551615 inner { v: -3 } ok: true 9: 5)");
  std::string json;
  printer.AppendJson(*m, json);
  EXPECT_EQ(json,
            R"({"blob":"AP8=","ids":[1,18446744073709551615],"inner":{"v":-3},"ok":true,"9":5})");
  EXPECT_FALSE(nlohmann::json::parse(json, nullptr, false).is_discarded());
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump
