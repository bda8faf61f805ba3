// The HTTPS port against the real binary, with a test CA and certificates made by the openssl
// command, and curl and Python's ssl module (https_client.py) as clients.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test/support/fake_peers.h"
#include "test/support/sanitizer_build.h"
#include "test/support/server_process.h"
#include "test/support/test_pki.h"

namespace ttlogin::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kClientScript =
    std::string(TTLOGIN_SOURCE_DIR) + "/test/integration/https_client.py";

// One PKI for the suite: making keys takes a while.
struct Pki {
  std::string dir;
  TestCa ca;
  TestCa other_ca;
  TestCert first;
  TestCert second;
  TestCert expired;
};

Pki& SuitePki() {
  static Pki pki = [] {
    Pki p;
    p.dir = MakeTempDir();
    p.ca = MakeCa(p.dir, "ca");
    p.other_ca = MakeCa(p.dir, "other-ca");
    p.first = MakeCert(p.dir, p.ca, "first", 30);
    p.second = MakeCert(p.dir, p.ca, "second", 60, KeyType::kRsa2048);
    p.expired = MakeCert(p.dir, p.ca, "expired", -1);
    return p;
  }();
  return pki;
}

// The server's config lines for HTTPS with `cert` (copied into `dir`, so a test may replace the
// files the server reads).
std::string HttpsConfig(const std::string& dir, const TestCert& cert,
                        const std::string& extra = "") {
  std::filesystem::copy_file(cert.chain_file, dir + "/server.crt",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(cert.key_file, dir + "/server.key",
                             std::filesystem::copy_options::overwrite_existing);
  return "HttpsListenIP=127.0.0.1\nHttpsPort=0\nTlsCertificate=" + dir +
         "/server.crt\nTlsPrivateKey=" + dir + "/server.key\nAdminPort=0\n" + extra;
}

json RunClient(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 30s) {
  std::vector<std::string> full = {kClientScript};
  full.insert(full.end(), args.begin(), args.end());
  std::string output;
  const int rc = RunProgram("/usr/bin/python3", full, &output, timeout);
  EXPECT_EQ(rc, 0) << output;
  // The result is the last line.
  std::string last = output;
  while (!last.empty() && last.back() == '\n')
    last.pop_back();
  last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
  if (rc != 0 || last.empty() || last[0] != '{') return json{{"ok", false}, {"error", output}};
  try {
    return json::parse(last);
  } catch (const json::exception& e) {
    return json{{"ok", false}, {"error", output}};
  }
}

int Curl(const std::vector<std::string>& args, std::string* output) {
  return RunProgram("/usr/bin/curl", args, output, 30s);
}

class HttpsTest : public testing::Test {
 protected:
  void Start(const std::string& extra = "") {
    dir_ = MakeTempDir();
    server_ = std::make_unique<ServerProcess>(HttpsConfig(dir_, SuitePki().first, extra));
    ASSERT_TRUE(server_->started()) << server_->log();
    ASSERT_NE(https(), 0);
  }
  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::uint16_t https() const { return server_->ports().https; }
  std::string Port() const { return std::to_string(https()); }
  const std::string& Ca() const { return SuitePki().ca.cert_file; }

  // A sample of /metrics ("name{labels}"), or -1 when absent.
  double Metric(const std::string& sample) {
    const auto r = HttpRequest(server_->ports().admin,
                               "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if (!r) return -1;
    const std::string& body = r->body;
    std::size_t pos = 0;
    while ((pos = body.find(sample + " ", pos)) != std::string::npos) {
      if (pos == 0 || body[pos - 1] == '\n') return std::stod(body.substr(pos + sample.size() + 1));
      pos += sample.size();
    }
    return -1;
  }
  double Failures(const std::string& reason) {
    return Metric("ttlogin_tls_handshake_failures_total{reason=\"" + reason + "\"}");
  }

  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(HttpsTest, AnswersTheSameJsonAsHttpOverTls12And13) {
  Start();
  const auto plain = HttpGetMsgServer(server_->ports().http);
  ASSERT_TRUE(plain);
  const json expected = json::parse(plain->body);
  for (const std::string version : {"1.2", "1.3"}) {
    const json r = RunClient({"get", Port(), Ca(), "--version", version});
    ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
    EXPECT_EQ(r["version"], "TLSv" + version);
    EXPECT_EQ(r["alpn"], "http/1.1");
    EXPECT_EQ(r["status"].get<int>(), plain->status);
    EXPECT_EQ(r["body"], expected);
  }
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--tlsv1.2", "--tls-max", "1.2"},
        std::vector<std::string>{"--tlsv1.3"}}) {
    std::vector<std::string> args = {"-sS", "--cacert", Ca(), "-w", "\n%{http_code}"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("https://localhost:" + Port() + "/msg_server");
    std::string out;
    ASSERT_EQ(Curl(args, &out), 0) << out;
    const std::size_t nl = out.rfind('\n');
    EXPECT_EQ(json::parse(out.substr(0, nl)), expected) << out;
    EXPECT_EQ(std::stoi(out.substr(nl + 1)), plain->status);
  }
  EXPECT_GE(Metric("ttlogin_tls_handshakes_total{result=\"full\"}"), 4);
  EXPECT_GT(Metric("ttlogin_tls_certificate_expiry_timestamp_seconds"),
            static_cast<double>(std::time(nullptr) + 29 * 86400));
}

TEST_F(HttpsTest, AnswersAreCountedAndTimedUnderTheHttpsListener) {
  Start();
  const std::string https_ok = "ttlogin_requests_total{listener=\"https\",code=\"1\"}";
  const std::string http_ok = "ttlogin_requests_total{listener=\"http\",code=\"1\"}";
  const std::string timed = "ttlogin_answer_latency_seconds_count{listener=\"https\"}";
  ASSERT_EQ(Metric(https_ok), 0);
  ASSERT_EQ(Metric(timed), 0);
  for (int i = 0; i < 3; ++i) {
    std::string out;
    ASSERT_EQ(Curl({"-sS", "--cacert", Ca(), "https://localhost:" + Port() + "/msg_server"}, &out),
              0)
        << out;
    // No msg_server is registered: code 1.
    EXPECT_EQ(json::parse(out)["code"], 1) << out;
  }
  // curl has read each answer, so each was counted before this scrape.
  EXPECT_EQ(Metric(https_ok), 3);
  EXPECT_EQ(Metric(timed), 3);
  EXPECT_EQ(Metric(http_ok), 0);
  EXPECT_EQ(Metric("ttlogin_answer_latency_seconds_count{listener=\"http\"}"), 0);
}

TEST_F(HttpsTest, KeepsAliveAndAnswersPipelinedRequestsInOrder) {
  // A small output budget: the pipelined burst's replies overflow it many times, so the
  // connection keeps decrypted requests while the client reads (Connection::PauseForOutput).
  Start("MaxQueuedOutput=4096\n");
  for (const std::string version : {"1.2", "1.3"}) {
    const json r = RunClient({"keepalive", Port(), Ca(), "--version", version, "--count", "100"});
    ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
    ASSERT_EQ(r["statuses"].size(), 200u);
    for (const auto& s : r["statuses"])
      EXPECT_EQ(s, r["statuses"][0]);
  }
  // Two connections, so two handshakes: keep-alive did not reconnect.
  EXPECT_EQ(Metric("ttlogin_tls_handshakes_total{result=\"full\"}"), 2);
}

TEST_F(HttpsTest, AnIdleConnectionHoldsNoOpenSslBuffers) {
  Start("HttpTimeout=600\n");
  const json r = RunClient(
      {"idle", Port(), Ca(), "--count", "1000", "--pid", std::to_string(server_->pid())}, 120s);
  ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
  // About 15 KB measured (OpenSSL's state after the handshake); OpenSSL's read and write
  // buffers, if kept, add about 33 KB more.
  const double per_connection = r["bytes_per_connection"].get<double>();
  std::printf("[ memory ] %.0f bytes per idle TLS connection\n", per_connection);
  EXPECT_GT(per_connection, 0.0);
  if (kSanitizerBuild) GTEST_SKIP() << "RSS under a sanitizer's allocator says nothing";
  EXPECT_LT(per_connection, 24 * 1024.0);
}

TEST_F(HttpsTest, ASecondConnectionResumesItsSession) {
  Start();
  for (const std::string version : {"1.2", "1.3"}) {
    const json r = RunClient({"resume", Port(), Ca(), "--version", version});
    ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
    EXPECT_EQ(r["reused"], json::parse("[false, true, true]")) << version;
  }
  EXPECT_EQ(Metric("ttlogin_tls_handshakes_total{result=\"resumed\"}"), 4);
}

TEST_F(HttpsTest, AClientWithAnotherCaRefusesTheServer) {
  Start();
  const json r = RunClient({"get", Port(), SuitePki().other_ca.cert_file});
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_NE(r["error"].get<std::string>().find("CERTIFICATE_VERIFY_FAILED"), std::string::npos)
      << r.dump();
  std::string out;
  EXPECT_EQ(Curl({"-sS", "--cacert", SuitePki().other_ca.cert_file,
                  "https://localhost:" + Port() + "/msg_server"},
                 &out),
            60)
      << out;
  EXPECT_TRUE(Eventually([&] { return Failures("certificate_rejected") >= 1; })) << server_->log();
}

TEST_F(HttpsTest, RefusesTls10And11) {
  Start();
  for (const std::string version : {"1.0", "1.1"}) {
    const json r = RunClient({"get", Port(), Ca(), "--version", version});
    EXPECT_FALSE(r["ok"].get<bool>()) << r.dump();
  }
  // Refused by the server (counted), not by the client library before sending.
  EXPECT_TRUE(Eventually([&] { return Failures("protocol_version") == 2; }))
      << Failures("protocol_version") << "\n"
      << server_->log();
}

TEST_F(HttpsTest, GarbageIsClosedAndCountedByKind) {
  Start();
  // A handshake record of nonsense.
  json r = RunClient({"raw", Port(), Ca(), "--hex", "160301000501020304ff"});
  EXPECT_TRUE(r["closed"].get<bool>()) << r.dump();
  // Neither TLS nor HTTP.
  r = RunClient({"raw", Port(), Ca(), "--hex", "00ff00ff"});
  EXPECT_TRUE(r["closed"].get<bool>()) << r.dump();
  EXPECT_EQ(r["reply"], "");
  EXPECT_TRUE(Eventually([&] { return Failures("malformed") == 1 && Failures("not_tls") == 1; }))
      << server_->log();
  // The port still serves.
  EXPECT_TRUE(RunClient({"get", Port(), Ca()})["ok"].get<bool>());
}

TEST_F(HttpsTest, PlaintextHttpGetsA400SayingToUseHttps) {
  Start();
  std::string hex;
  for (const unsigned char c : std::string("GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n")) {
    static const char* digits = "0123456789abcdef";
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  const json r = RunClient({"raw", Port(), Ca(), "--hex", hex});
  EXPECT_TRUE(r["closed"].get<bool>()) << r.dump();
  const std::string reply = r["reply"];
  EXPECT_EQ(reply.rfind("HTTP/1.1 400 ", 0), 0u) << reply;
  EXPECT_NE(reply.find("use an https:// URL"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply;
  EXPECT_TRUE(Eventually([&] { return Failures("plaintext_http") == 1; }));
}

TEST_F(HttpsTest, AStalledHandshakeIsCutAtTheDeadline) {
  Start("TlsHandshakeTimeout=2\n");
  const json r = RunClient({"stall", Port(), Ca()});
  EXPECT_TRUE(r["closed"].get<bool>()) << r.dump();
  EXPECT_GE(r["seconds"].get<double>(), 1.5);
  EXPECT_LT(r["seconds"].get<double>(), 9.0);
  EXPECT_TRUE(Eventually([&] { return Failures("timeout") == 1; }));
  EXPECT_EQ(Metric("ttlogin_tls_handshakes_in_progress"), 0);
}

TEST_F(HttpsTest, HandshakesBeyondMaxTlsHandshakesAreClosedAtOnce) {
  Start("MaxTlsHandshakes=2\nTlsHandshakeTimeout=30\n");
  std::vector<std::unique_ptr<TcpClient>> stalled;
  for (int i = 0; i < 2; ++i) {
    stalled.push_back(std::make_unique<TcpClient>(https()));
    ASSERT_TRUE(stalled.back()->Send(std::string("\x16\x03\x01\x02\x00\x01", 6)));
  }
  ASSERT_TRUE(Eventually([&] { return Metric("ttlogin_tls_handshakes_in_progress") == 2; }));
  TcpClient third(https());
  EXPECT_TRUE(third.WaitClosed(5s));
  EXPECT_TRUE(Eventually([&] { return Failures("over_capacity") == 1; }));
  EXPECT_FALSE(RunClient({"get", Port(), Ca()})["ok"].get<bool>());
  stalled.clear();  // the stalled clients leave: their handshakes end
  ASSERT_TRUE(Eventually([&] { return Metric("ttlogin_tls_handshakes_in_progress") == 0; }));
  EXPECT_TRUE(RunClient({"get", Port(), Ca()})["ok"].get<bool>());
  EXPECT_GE(Failures("peer_closed"), 2);
}

TEST_F(HttpsTest, AReloadedCertificateServesNewConnectionsWhileOldOnesGoOn) {
  Start();
  const json r =
      RunClient({"reload", Port(), Ca(), "--pid", std::to_string(server_->pid()), "--cert",
                 dir_ + "/server.crt", "--key", dir_ + "/server.key", "--new-cert",
                 SuitePki().second.chain_file, "--new-key", SuitePki().second.key_file});
  ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
  EXPECT_TRUE(r["changed"].get<bool>()) << server_->log();
  EXPECT_TRUE(r["old_kept_its_cert"].get<bool>());
  EXPECT_GE(r["old_status"].get<int>(), 200);
  // The gauge follows the new certificate (60 days).
  EXPECT_GT(Metric("ttlogin_tls_certificate_expiry_timestamp_seconds"),
            static_cast<double>(std::time(nullptr) + 59 * 86400));
}

TEST_F(HttpsTest, AReloadWithABadPairIsRefusedAndTheRunningPairStays) {
  Start();
  // The second certificate with the first one's key.
  std::filesystem::copy_file(SuitePki().second.chain_file, dir_ + "/server.crt",
                             std::filesystem::copy_options::overwrite_existing);
  const auto r = HttpRequest(server_->ports().admin,
                             "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                             "Connection: close\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_NE(r->status, 200) << r->body;
  EXPECT_NE(r->body.find("TlsPrivateKey"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("does not match"), std::string::npos) << r->body;
  const json get = RunClient({"get", Port(), Ca()});
  EXPECT_TRUE(get["ok"].get<bool>()) << get.dump();
  EXPECT_LT(Metric("ttlogin_tls_certificate_expiry_timestamp_seconds"),
            static_cast<double>(std::time(nullptr) + 31 * 86400));
}

class HttpsStartTest : public testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Runs the server on a config with `https` lines; returns the exit code.
  int Run(const std::string& https, std::string* out) {
    WriteFile(dir_ + "/loginserver.conf",
              "ClientListenIP=127.0.0.1\nClientPort=0\nHttpListenIP=127.0.0.1\nHttpPort=0\n"
              "MsgServerListenIP=127.0.0.1\nMsgServerPort=0\nmsfs=x\ndiscovery=y\n"
              "HttpsPort=0\n" +
                  https);
    return RunLoginServer({"-c", dir_ + "/loginserver.conf"}, out);
  }
  std::string dir_;
};

TEST_F(HttpsStartTest, ABadPairExitsWith2NamingTheKey) {
  const Pki& pki = SuitePki();
  struct Case {
    std::string lines;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"TlsCertificate=" + dir_ + "/missing.crt\nTlsPrivateKey=" + pki.first.key_file + "\n",
       "config error: TlsCertificate: cannot read"},
      {"TlsCertificate=" + pki.first.chain_file + "\nTlsPrivateKey=" + dir_ + "/missing.key\n",
       "config error: TlsPrivateKey: cannot read"},
      {"TlsCertificate=" + pki.first.chain_file + "\nTlsPrivateKey=" + pki.second.key_file + "\n",
       "config error: TlsPrivateKey: '" + pki.second.key_file + "' does not match"},
      {"TlsCertificate=" + pki.expired.chain_file + "\nTlsPrivateKey=" + pki.expired.key_file +
           "\n",
       "config error: TlsCertificate: '" + pki.expired.chain_file + "' expired on"},
      {"TlsPrivateKey=" + pki.first.key_file + "\n", "required key TlsCertificate is missing"},
      {"TlsCertificate=" + pki.first.chain_file + "\nTlsPrivateKey=" + pki.first.key_file +
           "\nTlsMinVersion=1.1\n",
       "TlsMinVersion: '1.1' is not 1.2 or 1.3"},
  };
  for (const Case& c : cases) {
    std::string out;
    EXPECT_EQ(Run(c.lines, &out), 2) << c.lines << out;
    EXPECT_NE(out.find(c.expected), std::string::npos) << c.expected << "\n" << out;
    // --check-config finds the same.
    out.clear();
    EXPECT_EQ(RunLoginServer({"-c", dir_ + "/loginserver.conf", "--check-config"}, &out), 2) << out;
    EXPECT_NE(out.find(c.expected), std::string::npos) << c.expected << "\n" << out;
  }
}

}  // namespace
}  // namespace ttlogin::test
