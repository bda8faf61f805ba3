// TlsContext and TlsSession without sockets: a client in memory (tls_test_client.h) against a
// session, with certificates the openssl command makes for the test.
#include "server/tls/tls_session.h"

#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/tls/tls_context.h"
#include "test/server/tls/tls_test_client.h"
#include "test/support/test_pki.h"

namespace ttlogin::server::tls {
namespace {

using test::KeyType;
using test::MakeCa;
using test::MakeCert;
using test::TestCa;
using test::TestCert;

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// One CA and a few certificates for the whole suite: the openssl command takes a while.
class Pki {
 public:
  static Pki& Get() {
    static Pki pki;
    return pki;
  }
  std::string dir;
  TestCa ca;
  TestCa other_ca;
  TestCert ecdsa;
  TestCert rsa;
  TestCert expired;
  TestCert expiring;

 private:
  Pki() {
    char tmpl[] = "/tmp/ttlogin-tls-test-XXXXXX";
    dir = mkdtemp(tmpl);
    ca = MakeCa(dir, "ca");
    other_ca = MakeCa(dir, "other-ca");
    ecdsa = MakeCert(dir, ca, "ecdsa", 30, KeyType::kEcdsaP256);
    rsa = MakeCert(dir, ca, "rsa", 30, KeyType::kRsa2048);
    expired = MakeCert(dir, ca, "expired", -1);
    expiring = MakeCert(dir, ca, "expiring", 5);
  }
};

TlsSettings SettingsFor(const TestCert& cert, TlsVersion min = TlsVersion::k12) {
  TlsSettings s;
  s.certificate_file = cert.chain_file;
  s.private_key_file = cert.key_file;
  s.min_version = min;
  return s;
}

std::shared_ptr<const TlsContext> LoadOrFail(const TlsSettings& s,
                                             std::shared_ptr<TicketKeys> keys = nullptr) {
  if (!keys) keys = std::make_shared<TicketKeys>();
  TlsContext::LoadResult r = TlsContext::Load(s, keys, std::time(nullptr));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.warning, "");
  return r.context;
}

TEST(TlsContextTest, LoadsAMatchingPairAndReportsItsExpiry) {
  const Pki& pki = Pki::Get();
  const auto context = LoadOrFail(SettingsFor(pki.ecdsa));
  ASSERT_NE(context, nullptr);
  // 30 days from when the test made it (a few minutes ago at most).
  const std::int64_t expected = std::time(nullptr) + 30 * 86400;
  EXPECT_NEAR(static_cast<double>(context->not_after()), static_cast<double>(expected), 600.0);
  EXPECT_NE(context->subject().find("CN=ecdsa"), std::string::npos) << context->subject();
}

TEST(TlsContextTest, RefusesAMissingFileNamingTheKey) {
  const Pki& pki = Pki::Get();
  TlsSettings s = SettingsFor(pki.ecdsa);
  s.certificate_file = pki.dir + "/nonexistent.crt";
  auto r = TlsContext::Load(s, std::make_shared<TicketKeys>(), std::time(nullptr));
  EXPECT_EQ(r.context, nullptr);
  EXPECT_EQ(r.error.rfind("TlsCertificate: cannot read", 0), 0u) << r.error;
  s = SettingsFor(pki.ecdsa);
  s.private_key_file = pki.dir + "/nonexistent.key";
  r = TlsContext::Load(s, std::make_shared<TicketKeys>(), std::time(nullptr));
  EXPECT_EQ(r.error.rfind("TlsPrivateKey: cannot read", 0), 0u) << r.error;
  s.private_key_file = pki.dir;  // a directory
  r = TlsContext::Load(s, std::make_shared<TicketKeys>(), std::time(nullptr));
  EXPECT_EQ(r.error.rfind("TlsPrivateKey: cannot read", 0), 0u) << r.error;
}

TEST(TlsContextTest, RefusesAKeyThatDoesNotMatch) {
  const Pki& pki = Pki::Get();
  TlsSettings s = SettingsFor(pki.ecdsa);
  s.private_key_file = pki.rsa.key_file;
  const auto r = TlsContext::Load(s, std::make_shared<TicketKeys>(), std::time(nullptr));
  EXPECT_EQ(r.context, nullptr);
  EXPECT_EQ(r.error.rfind("TlsPrivateKey:", 0), 0u) << r.error;
  EXPECT_NE(r.error.find("does not match"), std::string::npos) << r.error;
}

TEST(TlsContextTest, RefusesAnExpiredCertificateAndWarnsBeforeExpiry) {
  const Pki& pki = Pki::Get();
  auto r = TlsContext::Load(SettingsFor(pki.expired), std::make_shared<TicketKeys>(),
                            std::time(nullptr));
  EXPECT_EQ(r.context, nullptr);
  EXPECT_EQ(r.error.rfind("TlsCertificate:", 0), 0u) << r.error;
  EXPECT_NE(r.error.find("expired"), std::string::npos) << r.error;
  r = TlsContext::Load(SettingsFor(pki.expiring), std::make_shared<TicketKeys>(),
                       std::time(nullptr));
  EXPECT_NE(r.context, nullptr) << r.error;
  EXPECT_EQ(r.warning.rfind("TlsCertificate:", 0), 0u) << r.warning;
  EXPECT_NE(r.warning.find(" expires in "), std::string::npos) << r.warning;
  // The same certificate judged 31 days on is expired.
  r = TlsContext::Load(SettingsFor(pki.ecdsa), std::make_shared<TicketKeys>(),
                       std::time(nullptr) + 31 * 86400);
  EXPECT_NE(r.error.find("expired"), std::string::npos) << r.error;
}

TEST(TlsContextTest, RefusesAnEncryptedKeyWithoutPrompting) {
  const Pki& pki = Pki::Get();
  const std::string encrypted = pki.dir + "/encrypted.key";
  ASSERT_EQ(test::RunCommand("openssl pkey -in '" + pki.ecdsa.key_file +
                             "' -aes256 -passout pass:secret -out '" + encrypted + "'"),
            0);
  TlsSettings s = SettingsFor(pki.ecdsa);
  s.private_key_file = encrypted;
  const auto r = TlsContext::Load(s, std::make_shared<TicketKeys>(), std::time(nullptr));
  EXPECT_EQ(r.context, nullptr);
  EXPECT_EQ(r.error.rfind("TlsPrivateKey: no unencrypted PEM private key", 0), 0u) << r.error;
}

TEST(TlsContextTest, RefusesGarbageAndBadCipherSettings) {
  const Pki& pki = Pki::Get();
  auto keys = std::make_shared<TicketKeys>();
  auto r = TlsContext::FromPem("not a certificate", "not a key", {}, keys, std::time(nullptr));
  EXPECT_EQ(r.error.rfind("TlsCertificate: no PEM certificate", 0), 0u) << r.error;
  TlsSettings s = SettingsFor(pki.ecdsa);
  s.ciphers = "NO-SUCH-CIPHER";
  r = TlsContext::Load(s, keys, std::time(nullptr));
  EXPECT_EQ(r.error.rfind("TlsCiphers:", 0), 0u) << r.error;
  s = SettingsFor(pki.ecdsa);
  s.cipher_suites = "TLS_NO_SUCH_SUITE";
  r = TlsContext::Load(s, keys, std::time(nullptr));
  EXPECT_EQ(r.error.rfind("TlsCipherSuites:", 0), 0u) << r.error;
}

struct VersionCase {
  int version;
  const char* name;
};

class TlsSessionVersionTest : public testing::TestWithParam<VersionCase> {};

TEST_P(TlsSessionVersionTest, HandshakesVerifiesAndCarriesDataBothWays) {
  const Pki& pki = Pki::Get();
  for (const TestCert* cert : {&pki.ecdsa, &pki.rsa}) {
    const auto context = LoadOrFail(SettingsFor(*cert));
    ASSERT_NE(context, nullptr);
    TlsSession server;
    ASSERT_TRUE(server.Start(context));
    TestClient client(GetParam().version, GetParam().version, pki.ca.cert_file);
    ASSERT_EQ(Handshake(client, server), TlsSession::Status::kOk) << server.error();
    ASSERT_TRUE(server.handshake_done());
    ASSERT_TRUE(client.done());
    EXPECT_EQ(SSL_get_verify_result(client.ssl()), X509_V_OK);
    EXPECT_EQ(server.version(), GetParam().name);
    EXPECT_EQ(server.alpn(), "http/1.1");
    EXPECT_FALSE(server.resumed());

    std::string plain;
    std::string wire;
    const std::string request = "GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(server.Receive(Bytes(client.Encrypt(request)), plain, wire), TlsSession::Status::kOk);
    EXPECT_EQ(plain, request);
    wire.clear();
    ASSERT_TRUE(server.Send("HTTP/1.1 200 OK\r\n\r\n", wire));
    EXPECT_EQ(wire.find("200 OK"), std::string::npos) << "plaintext on the wire";
    client.Give(wire);
    EXPECT_EQ(client.Decrypt(), "HTTP/1.1 200 OK\r\n\r\n");

    // Our close_notify reaches the client as a clean close; the client's reaches us.
    wire.clear();
    server.Shutdown(wire);
    ASSERT_FALSE(wire.empty());
    client.Give(wire);
    bool closed = false;
    client.Decrypt(&closed);
    EXPECT_TRUE(closed);
    SSL_shutdown(client.ssl());
    plain.clear();
    wire.clear();
    EXPECT_EQ(server.Receive(Bytes(client.Drain()), plain, wire), TlsSession::Status::kPeerClosed);
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, TlsSessionVersionTest,
                         testing::Values(VersionCase{TLS1_2_VERSION, "TLSv1.2"},
                                         VersionCase{TLS1_3_VERSION, "TLSv1.3"}),
                         [](const auto& info) {
                           return info.param.version == TLS1_2_VERSION ? "Tls12" : "Tls13";
                         });

TEST(TlsSessionTest, PeerBytesInAnySplitGiveTheSameResult) {
  const Pki& pki = Pki::Get();
  const auto context = LoadOrFail(SettingsFor(pki.ecdsa));
  for (const std::size_t split : {1u, 2u, 5u, 7u, 100u, 1000u}) {
    TlsSession server;
    ASSERT_TRUE(server.Start(context));
    TestClient client(TLS1_2_VERSION, TLS1_3_VERSION, pki.ca.cert_file);
    ASSERT_EQ(Handshake(client, server, split), TlsSession::Status::kOk) << split;
    ASSERT_TRUE(server.handshake_done()) << split;
    // Three requests in one flight, fed in pieces of `split` bytes.
    std::string flight;
    for (int i = 0; i < 3; ++i)
      flight += client.Encrypt("GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string plain;
    std::string wire;
    for (std::size_t i = 0; i < flight.size(); i += split) {
      ASSERT_EQ(server.Receive(Bytes(flight.substr(i, split)), plain, wire),
                TlsSession::Status::kOk);
    }
    EXPECT_EQ(plain.size(), 3 * std::string("GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n").size());
  }
}

TEST(TlsSessionTest, ATicketResumesUntilItsKeyIsTwoRotationsOld) {
  const Pki& pki = Pki::Get();
  auto keys = std::make_shared<TicketKeys>();
  const auto context = LoadOrFail(SettingsFor(pki.ecdsa), keys);
  // A context reloaded with the same keys accepts the tickets of the first.
  const auto reloaded = LoadOrFail(SettingsFor(pki.ecdsa), keys);
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    TestClient client(version, version, pki.ca.cert_file);
    TlsSession first;
    ASSERT_TRUE(first.Start(context));
    ASSERT_EQ(Handshake(client, first), TlsSession::Status::kOk);
    SSL_SESSION* ticket = client.session();
    ASSERT_NE(ticket, nullptr);
    ASSERT_EQ(SSL_SESSION_is_resumable(ticket), 1) << "no ticket sent, version " << version;

    // A TLS 1.3 client uses each ticket once (the newest it got); this server would take any.
    client.NewConnection(ticket);
    SSL_SESSION_free(ticket);
    TlsSession second;
    ASSERT_TRUE(second.Start(reloaded));
    ASSERT_EQ(Handshake(client, second), TlsSession::Status::kOk);
    EXPECT_TRUE(second.resumed()) << version;
    EXPECT_EQ(SSL_session_reused(client.ssl()), 1);
    SSL_SESSION* sealed_by_first_key = client.session();
    ASSERT_EQ(SSL_SESSION_is_resumable(sealed_by_first_key), 1) << "no new ticket, " << version;

    keys->Rotate();  // the ticket's key is now the previous one: still accepted
    client.NewConnection(sealed_by_first_key);
    TlsSession third;
    ASSERT_TRUE(third.Start(context));
    ASSERT_EQ(Handshake(client, third), TlsSession::Status::kOk);
    EXPECT_TRUE(third.resumed()) << version;

    keys->Rotate();  // two rotations: forgotten, so a full handshake
    client.NewConnection(sealed_by_first_key);
    TlsSession fourth;
    ASSERT_TRUE(fourth.Start(context));
    ASSERT_EQ(Handshake(client, fourth), TlsSession::Status::kOk);
    EXPECT_TRUE(fourth.handshake_done());
    EXPECT_FALSE(fourth.resumed()) << version;
    SSL_SESSION_free(sealed_by_first_key);
  }
}

// TLS 1.3 picks AES-128-GCM by default though the client (OpenSSL's default order) prefers
// AES-256-GCM: the server's order decides. TlsCipherSuites replaces it.
TEST(TlsSessionTest, Tls13PrefersAes128GcmUnlessTlsCipherSuitesSaysOtherwise) {
  const Pki& pki = Pki::Get();
  auto negotiated = [&](const TlsSettings& settings) {
    const auto context = LoadOrFail(settings);
    TlsSession server;
    if (!context || !server.Start(context)) return std::string("no session");
    TestClient client(TLS1_3_VERSION, TLS1_3_VERSION, pki.ca.cert_file);
    if (Handshake(client, server) != TlsSession::Status::kOk || !server.handshake_done()) {
      return "handshake failed: " + server.error();
    }
    return std::string(SSL_CIPHER_get_name(SSL_get_current_cipher(client.ssl())));
  };
  EXPECT_EQ(negotiated(SettingsFor(pki.ecdsa)), "TLS_AES_128_GCM_SHA256");
  TlsSettings s = SettingsFor(pki.ecdsa);
  s.cipher_suites = "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256";
  EXPECT_EQ(negotiated(s), "TLS_AES_256_GCM_SHA384");
  s.cipher_suites = "TLS_CHACHA20_POLY1305_SHA256";
  EXPECT_EQ(negotiated(s), "TLS_CHACHA20_POLY1305_SHA256");
}

// The ticket cipher is fetched once by TicketKeys, not by the context: tickets sealed under a
// context that a reload has since freed still open under its successor, before and after a
// rotation, and a context made after the rotation seals new ones.
TEST(TlsSessionTest, TicketsOutliveTheContextThatSealedThem) {
  const Pki& pki = Pki::Get();
  auto keys = std::make_shared<TicketKeys>();
  ASSERT_NE(keys->cipher(), nullptr);
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    TestClient client(version, version, pki.ca.cert_file);
    SSL_SESSION* ticket = nullptr;
    {
      auto sealing = LoadOrFail(SettingsFor(pki.ecdsa), keys);
      TlsSession first;
      ASSERT_TRUE(first.Start(sealing));
      ASSERT_EQ(Handshake(client, first), TlsSession::Status::kOk);
      ticket = client.session();
      ASSERT_EQ(SSL_SESSION_is_resumable(ticket), 1) << version;
    }  // the sealing context and its session are gone, as after a reload
    keys->Rotate();
    const auto reloaded = LoadOrFail(SettingsFor(pki.ecdsa), keys);
    client.NewConnection(ticket);
    SSL_SESSION_free(ticket);
    TlsSession second;
    ASSERT_TRUE(second.Start(reloaded));
    ASSERT_EQ(Handshake(client, second), TlsSession::Status::kOk) << second.error();
    EXPECT_TRUE(second.resumed()) << version;
    // The renewed ticket is sealed with the current key, and opens again.
    SSL_SESSION* renewed = client.session();
    ASSERT_EQ(SSL_SESSION_is_resumable(renewed), 1) << version;
    client.NewConnection(renewed);
    SSL_SESSION_free(renewed);
    TlsSession third;
    ASSERT_TRUE(third.Start(reloaded));
    ASSERT_EQ(Handshake(client, third), TlsSession::Status::kOk) << third.error();
    EXPECT_TRUE(third.resumed()) << version;
  }
}

// The sessions of one thread share its BIO: handshakes and records of several sessions, taken in
// turn a flight at a time, each reach their own client and nobody else's.
TEST(TlsSessionTest, SessionsOfOneThreadTakeTurnsWithoutMixingTheirBytes) {
  const Pki& pki = Pki::Get();
  const auto context = LoadOrFail(SettingsFor(pki.ecdsa));
  constexpr int kSessions = 4;
  std::vector<std::unique_ptr<TestClient>> clients;
  std::vector<std::unique_ptr<TlsSession>> servers;
  for (int i = 0; i < kSessions; ++i) {
    clients.push_back(
        std::make_unique<TestClient>(TLS1_2_VERSION, TLS1_3_VERSION, pki.ca.cert_file));
    servers.push_back(std::make_unique<TlsSession>());
    ASSERT_TRUE(servers.back()->Start(context));
  }
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < kSessions; ++i) {
      const std::string flight = clients[i]->Pending();
      std::string plain;
      std::string wire;
      ASSERT_EQ(servers[i]->Receive(Bytes(flight), plain, wire), TlsSession::Status::kOk)
          << i << ": " << servers[i]->error();
      clients[i]->Give(wire);
    }
  }
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_TRUE(servers[i]->handshake_done()) << i;
    ASSERT_TRUE(clients[i]->done()) << i;
    clients[i]->Decrypt();  // the ticket
  }
  std::vector<std::string> requests(kSessions);
  for (int i = 0; i < kSessions; ++i) {
    requests[i] = "GET /msg_server?n=" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  for (int i = 0; i < kSessions; ++i) {
    std::string plain;
    std::string wire;
    ASSERT_EQ(servers[i]->Receive(Bytes(clients[i]->Encrypt(requests[i])), plain, wire),
              TlsSession::Status::kOk);
    EXPECT_EQ(plain, requests[i]);
    ASSERT_TRUE(servers[i]->Send("reply " + std::to_string(i), wire));
    clients[i]->Give(wire);
  }
  for (int i = 0; i < kSessions; ++i)
    EXPECT_EQ(clients[i]->Decrypt(), "reply " + std::to_string(i));
}

// A session is driven by the thread that calls it: one started on a thread that has since ended
// finishes its handshake and carries data on another, and a third thread can close it.
TEST(TlsSessionTest, ASessionGoesOnOnAnotherThread) {
  const Pki& pki = Pki::Get();
  const auto context = LoadOrFail(SettingsFor(pki.ecdsa));
  TestClient client(TLS1_3_VERSION, TLS1_3_VERSION, pki.ca.cert_file);
  TlsSession server;
  bool started = false;
  TlsSession::Status first = TlsSession::Status::kFailed;
  std::thread([&] {
    started = server.Start(context);
    if (!started) return;
    const std::string hello = client.Pending();
    std::string plain;
    std::string wire;
    first = server.Receive(Bytes(hello), plain, wire);
    client.Give(wire);
  }).join();
  ASSERT_TRUE(started);
  ASSERT_EQ(first, TlsSession::Status::kOk) << server.error();
  ASSERT_FALSE(server.handshake_done());
  ASSERT_EQ(Handshake(client, server), TlsSession::Status::kOk) << server.error();
  ASSERT_TRUE(server.handshake_done());
  std::string plain;
  std::string wire;
  const std::string request = "GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(server.Receive(Bytes(client.Encrypt(request)), plain, wire), TlsSession::Status::kOk);
  EXPECT_EQ(plain, request);
  ASSERT_TRUE(server.Send("pong", wire));
  client.Give(wire);
  EXPECT_EQ(client.Decrypt(), "pong");
  wire.clear();
  std::thread([&] { server.Shutdown(wire); }).join();
  ASSERT_FALSE(wire.empty());
  client.Give(wire);
  bool closed = false;
  client.Decrypt(&closed);
  EXPECT_TRUE(closed);
}

TEST(TicketKeysTest, RotatesByItselfWhenThePeriodPasses) {
  auto now = TicketKeys::Clock::time_point{} + std::chrono::hours(1000);
  TicketKeys keys(std::chrono::seconds(60), [&] { return now; });
  const TicketKeys::Key first = keys.ForSealing();
  now += std::chrono::seconds(59);
  EXPECT_EQ(keys.ForSealing().name, first.name);
  TicketKeys::Key opened;
  bool renew = true;
  EXPECT_TRUE(keys.ForOpening(first.name.data(), opened, renew));
  EXPECT_FALSE(renew);
  now += std::chrono::seconds(1);
  const TicketKeys::Key second = keys.ForSealing();
  EXPECT_NE(second.name, first.name);
  EXPECT_TRUE(keys.ForOpening(first.name.data(), opened, renew));
  EXPECT_TRUE(renew);
  EXPECT_EQ(opened.aes, first.aes);
  // An idle server: long after, both old keys are gone even without a sealing in between.
  now += std::chrono::seconds(600);
  EXPECT_FALSE(keys.ForOpening(first.name.data(), opened, renew));
  EXPECT_FALSE(keys.ForOpening(second.name.data(), opened, renew));
}

TEST(TlsSessionTest, RefusesOldProtocolVersions) {
  const Pki& pki = Pki::Get();
  const auto context = LoadOrFail(SettingsFor(pki.ecdsa));
  for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    TlsSession server;
    ASSERT_TRUE(server.Start(context));
    TestClient client(version, version);
    const std::string hello = client.Pending();
    ASSERT_FALSE(hello.empty()) << "the client library sent no hello for version " << version;
    std::string plain;
    std::string wire;
    EXPECT_EQ(server.Receive(Bytes(hello), plain, wire), TlsSession::Status::kFailed);
    EXPECT_EQ(server.failure(), HandshakeFailure::kProtocolVersion) << server.error();
    EXPECT_FALSE(wire.empty()) << "no alert for the client";
  }
  // TlsMinVersion=1.3 refuses a TLS 1.2 client the same way.
  const auto only13 = LoadOrFail(SettingsFor(pki.ecdsa, TlsVersion::k13));
  TlsSession server;
  ASSERT_TRUE(server.Start(only13));
  TestClient client(TLS1_2_VERSION, TLS1_2_VERSION);
  std::string plain;
  std::string wire;
  EXPECT_EQ(server.Receive(Bytes(client.Pending()), plain, wire), TlsSession::Status::kFailed);
  EXPECT_EQ(server.failure(), HandshakeFailure::kProtocolVersion) << server.error();
}

TEST(TlsSessionTest, AClientThatDistrustsTheCertificateIsCounted) {
  const Pki& pki = Pki::Get();
  const auto context = LoadOrFail(SettingsFor(pki.ecdsa));
  TlsSession server;
  ASSERT_TRUE(server.Start(context));
  TestClient client(TLS1_2_VERSION, TLS1_3_VERSION, pki.other_ca.cert_file);
  EXPECT_EQ(Handshake(client, server), TlsSession::Status::kFailed);
  EXPECT_FALSE(server.handshake_done());
  EXPECT_EQ(server.failure(), HandshakeFailure::kCertificateRejected) << server.error();
}

TEST(TlsSessionTest, GarbageAndTruncatedHellosFailOrWaitWithoutCrashing) {
  const Pki& pki = Pki::Get();
  const auto context = LoadOrFail(SettingsFor(pki.ecdsa));
  // A handshake record header with nonsense after it.
  {
    TlsSession server;
    ASSERT_TRUE(server.Start(context));
    std::string plain;
    std::string wire;
    const std::string garbage("\x16\x03\x01\x00\x05\xff\xff\xff\xff\xff", 10);
    EXPECT_EQ(server.Receive(Bytes(garbage), plain, wire), TlsSession::Status::kFailed);
    EXPECT_EQ(server.failure(), HandshakeFailure::kMalformed) << server.error();
    // A failed session stays failed.
    EXPECT_EQ(server.Receive(Bytes(garbage), plain, wire), TlsSession::Status::kFailed);
    EXPECT_FALSE(server.Send("x", wire));
  }
  // A record header claiming more than a record may hold.
  {
    TlsSession server;
    ASSERT_TRUE(server.Start(context));
    std::string plain;
    std::string wire;
    EXPECT_EQ(server.Receive(Bytes(std::string("\x16\x03\x01\xff\xff", 5)), plain, wire),
              TlsSession::Status::kFailed);
  }
  // Every prefix of a real hello waits for more, and holds what it has.
  TestClient client(TLS1_2_VERSION, TLS1_3_VERSION);
  const std::string hello = client.Pending();
  for (std::size_t cut = 1; cut < hello.size(); cut += 37) {
    TlsSession server;
    ASSERT_TRUE(server.Start(context));
    std::string plain;
    std::string wire;
    EXPECT_EQ(server.Receive(Bytes(hello.substr(0, cut)), plain, wire), TlsSession::Status::kOk);
    EXPECT_TRUE(wire.empty());
    EXPECT_EQ(server.Receive(Bytes(hello.substr(cut)), plain, wire), TlsSession::Status::kOk);
    EXPECT_FALSE(wire.empty()) << "no ServerHello after the rest of the hello, cut " << cut;
  }
}

TEST(TlsSessionTest, TheFirstByteTellsTlsFromPlaintextHttp) {
  EXPECT_EQ(ClassifyFirstByte(0x16), FirstByte::kTls);
  for (const char c : std::string("GPHDOCT"))
    EXPECT_EQ(ClassifyFirstByte(static_cast<std::uint8_t>(c)), FirstByte::kPlaintextHttp) << c;
  for (const int b : {0x00, 0x15, 0x17, 0x80, int{'g'}, int{' '}, 0xff})
    EXPECT_EQ(ClassifyFirstByte(static_cast<std::uint8_t>(b)), FirstByte::kNotTls) << b;
}

TEST(TlsSessionTest, EveryFailureHasALabel) {
  for (std::size_t i = 0; i < static_cast<std::size_t>(HandshakeFailure::kCount); ++i) {
    const auto name = HandshakeFailureName(static_cast<HandshakeFailure>(i));
    EXPECT_FALSE(name.empty());
    for (std::size_t j = 0; j < i; ++j)
      EXPECT_NE(name, HandshakeFailureName(static_cast<HandshakeFailure>(j)));
  }
}

}  // namespace
}  // namespace ttlogin::server::tls
