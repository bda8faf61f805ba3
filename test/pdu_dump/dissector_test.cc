// The Wireshark dissector (tools/wireshark/ttlogin.lua) and pdu_dump must see the same PDUs in
// the same captures: tshark runs the dissector over the fixtures pdu_dump is tested on, and the
// two views (per direction: command, seq, length and every decoded body field) are compared.
//
// tshark is required: without it this test fails (it does not skip), so a CI image that lacks it
// is noticed. Debian: apt-get install tshark.
#include <gtest/gtest.h>

#include <unistd.h>

#include <map>
#include <memory>

#include "IM.BaseDefine.pb.h"
#include "test/pdu_dump/decode_helpers.h"
#include "test/pdu_dump/fixtures.h"
#include "test/pdu_dump/tool_process.h"

namespace ttlogin::tools::pdu_dump {
namespace {

using namespace testing;  // NOLINT: the fixture helpers
using nlohmann::json;

// Direction "src->dst" -> the PDUs seen on it, each as "field=value" pairs.
using View = std::map<std::string, std::vector<std::map<std::string, std::string>>>;

const char* const kBodyFields[] = {"ip1",          "ip2",       "port",        "max_conn_cnt",
                                   "cur_conn_cnt", "host_name", "user_action", "user_id",
                                   "result_code",  "prior_ip",  "backip_ip"};

std::string Str(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

View PduDumpView(const std::string& json_lines) {
  View view;
  for (const json& j : ParseLines(json_lines)) {
    if (j["command"].is_null()) continue;  // stream errors are compared separately
    std::map<std::string, std::string> pdu;
    pdu["command"] = Str(j["command"]);
    pdu["seq"] = Str(j["seq"]);
    pdu["length"] = Str(j["length"]);
    if (j["body"].is_object()) {
      for (auto it = j["body"].begin(); it != j["body"].end(); ++it) {
        std::string value = Str(it.value());
        if (it.key() == "result_code") {
          IM::BaseDefine::ResultType rt{};
          if (IM::BaseDefine::ResultType_Parse(value, &rt)) value = std::to_string(rt);
        }
        pdu[it.key()] = value;
      }
    }
    view[j["src"].get<std::string>() + "->" + j["dst"].get<std::string>()].push_back(pdu);
  }
  return view;
}

std::string Endpoint(const json& layers, const char* side) {
  const bool v6 = layers.contains("ipv6");
  const std::string ip = v6 ? layers["ipv6"][std::string("ipv6.") + side].get<std::string>()
                            : layers["ip"][std::string("ip.") + side].get<std::string>();
  const std::string port = layers["tcp"][std::string("tcp.") + side + "port"].get<std::string>();
  return v6 ? "[" + ip + "]:" + port : ip + ":" + port;
}

// Also collects the expert infos the dissector raised, per direction.
View TsharkView(const std::string& tshark_json, std::map<std::string, std::string>* experts) {
  View view;
  const json frames = json::parse(tshark_json, nullptr, false);
  EXPECT_TRUE(frames.is_array()) << tshark_json.substr(0, 500);
  if (!frames.is_array()) return view;
  for (const json& frame : frames) {
    const json& layers = frame["_source"]["layers"];
    if (!layers.contains("ttlogin")) continue;
    const std::string dir = Endpoint(layers, "src") + "->" + Endpoint(layers, "dst");
    // One PDU is an object; several in one frame are an array (--no-duplicate-keys).
    json pdus = layers["ttlogin"];
    if (!pdus.is_array()) pdus = json::array({pdus});
    for (const json& p : pdus) {
      if (experts != nullptr && p.dump().find(".expert") != std::string::npos) {
        (*experts)[dir] += p.dump();
      }
      if (p.dump().find("ttlogin.bad_length.expert") != std::string::npos) continue;
      std::map<std::string, std::string> pdu;
      pdu["command"] =
          std::to_string(std::stoi(p["ttlogin.command"].get<std::string>(), nullptr, 16));
      pdu["seq"] = p["ttlogin.seq"].get<std::string>();
      pdu["length"] = p["ttlogin.length"].get<std::string>();
      for (const char* field : kBodyFields) {
        const std::string key = std::string("ttlogin.") + field;
        if (p.contains(key)) pdu[field] = p[key].get<std::string>();
      }
      view[dir].push_back(pdu);
    }
  }
  return view;
}

std::vector<std::string> TsharkArgs(const std::string& capture) {
  return {"-n",
          "-X",
          std::string("lua_script:") + TTLOGIN_LUA,
          "-o",
          "tcp.reassemble_out_of_order:TRUE",
          "-r",
          capture,
          "-Y",
          "ttlogin",
          "-T",
          "json",
          "--no-duplicate-keys"};
}

bool TsharkInstalled() {
  static const bool installed = RunProgram({"tshark"}, {"-v"}).code == 0;
  return installed;
}

struct Fixture {
  std::string name;
  std::string capture;
};

std::vector<Fixture> Fixtures() {
  std::vector<Fixture> out;
  // tshark costs most of a CPU-second per run, so one fixture per kind of framing tshark must
  // handle differently (Ethernet/IPv4/pcap, cooked v2/IPv6/pcapng, loopback); pdu_dump itself is
  // tested on every combination in capture_test.cc.
  const std::tuple<int, bool, CaptureFormat, const char*> cases[] = {
      {kLinkTypeEthernet, false, CaptureFormat::kPcap, "eth_v4.pcap"},
      {kLinkTypeLinuxSll2, true, CaptureFormat::kPcapng, "sll2_v6.pcapng"},
      {kLinkTypeNull, false, CaptureFormat::kPcap, "null_v4.pcap"},
  };
  for (const auto& [link, v6, format, name] : cases) {
    out.push_back({name, MakeCapture(format, link, LoginTierScenario(link, v6).frames)});
  }
  // Unknown command, a body missing a required field, a bad body, a bad length.
  Conversation a(kLinkTypeEthernet, V4("10.0.0.5", 40000), V4("10.0.0.1", 8100));
  std::vector<std::string> frames = a.Handshake();
  frames.push_back(a.Data(Side::kClient, ServInfo(1, "x", "", 1, 2, 3, "")));
  frames.push_back(a.Data(Side::kClient, RawPdu(19, 3, 0x0301, 2, "\x01\x02\x03")));
  frames.push_back(a.Data(Side::kClient, RawPdu(18, 7, 0x070b, 3, "\x08\x02")));
  frames.push_back(a.Data(Side::kClient, RawPdu(18, 7, 0x070b, 4, "\xff\xff")));
  frames.push_back(a.Data(Side::kClient, RawPdu(9, 7, 0x0701, 5, "")));
  out.push_back({"odd_pdus.pcap", MakeCapture(CaptureFormat::kPcap, kLinkTypeEthernet, frames)});
  return out;
}

TEST(Dissector, TsharkIsInstalled) {
  ASSERT_TRUE(TsharkInstalled())
      << "tshark is needed to test tools/wireshark/ttlogin.lua: apt-get install tshark";
}

TEST(Dissector, SeesTheSamePdusAsPduDump) {
  ASSERT_TRUE(TsharkInstalled()) << "tshark missing: apt-get install tshark";
  const std::vector<Fixture> fixtures = Fixtures();
  // tshark takes most of a second to start; run every fixture at once.
  std::vector<std::string> paths;
  std::vector<std::unique_ptr<ToolProcess>> runs;
  for (const Fixture& f : fixtures) {
    paths.push_back(WriteTempFile("dissector_" + f.name, f.capture));
    runs.push_back(std::make_unique<ToolProcess>(OtherProgram{"tshark"}, TsharkArgs(paths.back())));
  }
  for (std::size_t i = 0; i < fixtures.size(); ++i) {
    SCOPED_TRACE(fixtures[i].name);
    ASSERT_EQ(runs[i]->Wait(std::chrono::seconds(30)), 0) << runs[i]->err();
    std::map<std::string, std::string> experts;
    const View tshark = TsharkView(runs[i]->out(), &experts);
    const DecodeOutcome ours = DecodeCapture(fixtures[i].capture);
    const View mine = PduDumpView(ours.output);
    ASSERT_FALSE(mine.empty());
    EXPECT_EQ(tshark, mine);
    if (fixtures[i].name == "odd_pdus.pcap") {
      // Both tools flag the broken body and the broken length.
      EXPECT_NE(experts["10.0.0.5:40000->10.0.0.1:8100"].find("ttlogin.bad_body.expert"),
                std::string::npos);
      EXPECT_NE(experts["10.0.0.5:40000->10.0.0.1:8100"].find("ttlogin.bad_length.expert"),
                std::string::npos);
      EXPECT_EQ(ours.stats.body_errors, 2u);  // missing user_id, and the unparsable one
      EXPECT_EQ(ours.stats.stream_errors, 1u);
    }
  }
}

}  // namespace
}  // namespace ttlogin::tools::pdu_dump
