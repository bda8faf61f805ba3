// Every metric the shipped alerts (etc/prometheus/ttlogin.rules.yml) and dashboard
// (etc/grafana/ttlogin.dashboard.json) query is one a live login_server exports: a server with an
// HTTPS listener and three registered msg_servers (so the labelled and HTTPS-only series exist) is
// scraped, and check_metric_names.py holds each expression to that scrape.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test/support/fake_peers.h"
#include "test/support/server_process.h"
#include "test/support/test_pki.h"

namespace ttlogin::test {
namespace {

const std::string kSource = TTLOGIN_SOURCE_DIR;
const std::string kChecker = kSource + "/test/obs/check_metric_names.py";
const std::string kRules = kSource + "/etc/prometheus/ttlogin.rules.yml";
const std::string kDashboard = kSource + "/etc/grafana/ttlogin.dashboard.json";

class MetricNamesTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = MakeTempDir();
    const TestCa ca = MakeCa(dir_, "ca");
    const TestCert cert = MakeCert(dir_, ca, "server", 30);
    server_ = std::make_unique<ServerProcess>(
        "HttpsListenIP=127.0.0.1\nHttpsPort=0\nTlsCertificate=" + cert.chain_file +
        "\nTlsPrivateKey=" + cert.key_file + "\nAdminPort=0\n");
    if (!server_->started()) return;
    for (int i = 0; i < 3; ++i) {
      msg_servers_.push_back(std::make_unique<FakeMsgServer>(server_->ports().msg_server));
      MsgServerFields f;
      f.host_name = "msg-" + std::to_string(i);
      f.port = 8000 + i;
      f.cur_conn_cnt = 10 * i;
      f.max_conn_cnt = 100;
      if (!msg_servers_.back()->Register(f)) return;
    }
    // Registration is applied on the server's io thread: wait until /metrics shows all three.
    (void)Eventually(
        [] {
          scrape_ = Scrape();
          return scrape_.find("ttlogin_msg_servers{state=\"registered\"} 3\n") != std::string::npos;
        },
        std::chrono::seconds(10));
  }
  static void TearDownTestSuite() {
    msg_servers_.clear();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  void SetUp() override {
    ASSERT_TRUE(server_->started()) << server_->log();
    ASSERT_NE(server_->ports().https, 0);
    ASSERT_NE(scrape_.find("ttlogin_msg_servers{state=\"registered\"} 3\n"), std::string::npos)
        << scrape_;
  }

  static std::string Scrape() {
    const auto r = HttpRequest(server_->ports().admin,
                               "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    return r && r->status == 200 ? r->body : std::string();
  }
  // Runs the checker on the scrape with `args`; returns its exit code, output in `output`.
  static int Check(const std::vector<std::string>& args, std::string* output) {
    const std::string path = dir_ + "/metrics.txt";
    WriteFile(path, scrape_);
    std::vector<std::string> full = {kChecker, "--metrics", path};
    full.insert(full.end(), args.begin(), args.end());
    return RunProgram("/usr/bin/python3", full, output, std::chrono::seconds(60));
  }

  // One server for the suite: the tests only read its scrape.
  static inline std::string dir_;
  static inline std::unique_ptr<ServerProcess> server_;
  static inline std::vector<std::unique_ptr<FakeMsgServer>> msg_servers_;
  static inline std::string scrape_;
};

TEST_F(MetricNamesTest, TheScrapeHasTheLabelledAndHttpsSeries) {
  for (const char* series : {
           "ttlogin_msg_server_users{host=\"msg-2\",port=\"8002\"} 20\n",
           "ttlogin_msg_server_max_users{host=\"msg-0\",port=\"8000\"} 100\n",
           "ttlogin_requests_total{listener=\"https\",code=\"0\"} 0\n",
           "ttlogin_answer_latency_seconds_count{listener=\"https\"} 0\n",
           "# TYPE ttlogin_tls_certificate_expiry_timestamp_seconds gauge\n",
       }) {
    EXPECT_NE(scrape_.find(series), std::string::npos) << series;
  }
}

TEST_F(MetricNamesTest, EveryAlertNamesAnExportedMetric) {
  std::string output;
  EXPECT_EQ(Check({"--rules", kRules}, &output), 0) << output;
  std::printf("%s", output.c_str());
}

TEST_F(MetricNamesTest, EveryDashboardQueryNamesAnExportedMetric) {
  std::string output;
  EXPECT_EQ(Check({"--dashboard", kDashboard, "--promtool"}, &output), 0) << output;
  std::printf("%s", output.c_str());
}

// The check can fail: a dashboard query of a made-up metric, and one of a label value the server
// never writes, are each reported with the panel and the expression.
TEST_F(MetricNamesTest, AMadeUpMetricInTheDashboardIsReported) {
  std::ifstream in(kDashboard);
  nlohmann::json model = nlohmann::json::parse(in);
  nlohmann::json* targets = nullptr;
  for (auto& panel : model["panels"]) {
    if (panel.value("title", "") == "Requests by code") targets = &panel["targets"];
  }
  ASSERT_NE(targets, nullptr);
  (*targets)[0]["expr"] = "sum(rate(ttlogin_logins_made_up_total[5m]))";
  targets->push_back({{"refId", "Z"}, {"expr", "sum(ttlogin_msg_servers{state=\"sleeping\"})"}});
  const std::string path = dir_ + "/broken.dashboard.json";
  WriteFile(path, model.dump(2));
  std::string output;
  EXPECT_EQ(Check({"--dashboard", path}, &output), 1) << output;
  EXPECT_NE(output.find("panel 'Requests by code' A: ttlogin_logins_made_up_total is not exported"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("panel 'Requests by code' Z: no series "
                        "ttlogin_msg_servers{state=\"sleeping\"} is exported"),
            std::string::npos)
      << output;
}

}  // namespace
}  // namespace ttlogin::test
