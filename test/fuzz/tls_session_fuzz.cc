// Fuzz target: the TLS glue (tls::TlsSession, the span BIO) as the HTTPS port drives it.
//
// Input: [mode][split][rest]. The key and a self-signed certificate are made in memory once.
//  - mode even, "raw": `rest` is what a peer sends, fed in pieces of `split` bytes (0: whole).
//    Receive must take every byte without crashing; once failed a session stays failed and sends
//    nothing more; and feeding the same bytes whole must end in the same status and failure
//    (the split never changes the verdict).
//  - mode odd, "live": a real client (OpenSSL in memory) handshakes with the session, its flights
//    fed in pieces of `split` bytes, then sends `rest` as application data. Without tampering the
//    handshake completes and the session decrypts exactly `rest`, in any split; with one byte of
//    a chosen flight flipped (next bytes of the input), the session may fail, but whatever
//    plaintext it hands out is a prefix of what the client sent (the records are authenticated).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>
#include <string>

#include "server/tls/tls_context.h"
#include "server/tls/tls_session.h"
#include "test/fuzz/fuzz_input.h"
#include "test/server/tls/tls_test_client.h"

namespace ttlogin::fuzz {
namespace {

using server::tls::TlsSession;

std::string Pem(int (*write)(BIO*, void*), void* object) {
  BIO* bio = BIO_new(BIO_s_mem());
  FUZZ_CHECK(write(bio, object) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::shared_ptr<const server::tls::TlsContext> MakeContext() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  FUZZ_CHECK(key != nullptr);
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("fuzz"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  FUZZ_CHECK(X509_sign(cert, key, EVP_sha256()) > 0);
  const std::string cert_pem = Pem(
      [](BIO* b, void* o) { return PEM_write_bio_X509(b, static_cast<X509*>(o)); }, cert);
  const std::string key_pem = Pem(
      [](BIO* b, void* o) {
        return PEM_write_bio_PrivateKey(b, static_cast<EVP_PKEY*>(o), nullptr, nullptr, 0,
                                        nullptr, nullptr);
      },
      key);
  X509_free(cert);
  EVP_PKEY_free(key);
  auto loaded = server::tls::TlsContext::FromPem(
      cert_pem, key_pem, {}, std::make_shared<server::tls::TicketKeys>(), std::time(nullptr));
  FUZZ_CHECK(loaded.context != nullptr);
  return loaded.context;
}

const std::shared_ptr<const server::tls::TlsContext>& Context() {
  static const auto context = MakeContext();
  return context;
}

// Feeds `bytes` in pieces of `split` (0: whole); stops at the first status other than kOk.
TlsSession::Status Feed(TlsSession& session, std::span<const std::uint8_t> bytes,
                        std::size_t split, std::string& plain, std::string& wire) {
  if (split == 0) split = bytes.size() == 0 ? 1 : bytes.size();
  TlsSession::Status status = TlsSession::Status::kOk;
  for (std::size_t i = 0; i < bytes.size(); i += split) {
    status = session.Receive(bytes.subspan(i, std::min(split, bytes.size() - i)), plain, wire);
    if (status != TlsSession::Status::kOk) break;
  }
  return status;
}

void Raw(std::size_t split, std::span<const std::uint8_t> bytes) {
  TlsSession split_session;
  FUZZ_CHECK(split_session.Start(Context()));
  std::string plain;
  std::string wire;
  const TlsSession::Status status = Feed(split_session, bytes, split, plain, wire);
  if (status == TlsSession::Status::kFailed) {
    // Failed stays failed, and says nothing more.
    std::string more_plain;
    std::string more_wire;
    FUZZ_CHECK(split_session.Receive(bytes, more_plain, more_wire) == TlsSession::Status::kFailed);
    FUZZ_CHECK(more_plain.empty() && more_wire.empty());
    FUZZ_CHECK(!split_session.Send("x", more_wire));
  }
  // No handshake can finish without our random in it, so no plaintext comes out.
  FUZZ_CHECK(plain.empty());
  TlsSession whole;
  FUZZ_CHECK(whole.Start(Context()));
  std::string whole_plain;
  std::string whole_wire;
  const TlsSession::Status whole_status = Feed(whole, bytes, 0, whole_plain, whole_wire);
  FUZZ_CHECK(whole_status == status);
  if (status == TlsSession::Status::kFailed && !whole.handshake_done()) {
    FUZZ_CHECK(whole.failure() == split_session.failure());
  }
}

void Live(FuzzInput& in) {
  const std::size_t split = in.U8();
  const bool tls13 = in.Bool();
  // 0-2: a handshake flight of the client, 3: its application records, 4-7: none.
  const std::uint8_t tamper_round = in.U8() % 8;
  const std::uint16_t tamper_at = in.U16();
  const std::uint8_t tamper_bits = static_cast<std::uint8_t>(in.U8() | 1);
  const auto rest = in.Rest();
  const std::string message(reinterpret_cast<const char*>(rest.data()), rest.size());
  const int version = tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  server::tls::TestClient client(version, version);
  TlsSession session;
  FUZZ_CHECK(session.Start(Context()));
  const bool tampering = tamper_round < 4;
  const bool handshake_untouched = tamper_round >= 3;
  std::string plain;
  TlsSession::Status status = TlsSession::Status::kOk;
  for (int round = 0; round < 3 && !(client.done() && session.handshake_done()); ++round) {
    std::string flight = client.Pending();
    if (tampering && round == tamper_round && !flight.empty()) {
      flight[tamper_at % flight.size()] ^= static_cast<char>(tamper_bits);
    }
    std::string wire;
    status = Feed(session,
                  {reinterpret_cast<const std::uint8_t*>(flight.data()), flight.size()}, split,
                  plain, wire);
    client.Give(wire);
    if (status != TlsSession::Status::kOk) break;
  }
  if (handshake_untouched) {
    FUZZ_CHECK(status == TlsSession::Status::kOk);
    FUZZ_CHECK(session.handshake_done());
  }
  if (status != TlsSession::Status::kOk || !session.handshake_done() || !client.done()) return;
  client.Pending();
  client.Decrypt();
  std::string records = message.empty() ? std::string() : client.Encrypt(message);
  if (tamper_round == 3 && !records.empty()) {
    records[tamper_at % records.size()] ^= static_cast<char>(tamper_bits);
  }
  std::string wire;
  status = Feed(session, {reinterpret_cast<const std::uint8_t*>(records.data()), records.size()},
                split, plain, wire);
  FUZZ_CHECK(message.compare(0, plain.size(), plain) == 0);
  if (!tampering) {
    FUZZ_CHECK(status == TlsSession::Status::kOk);
    FUZZ_CHECK(plain == message);
    // And back: what the session encrypts, the client reads.
    std::string reply;
    FUZZ_CHECK(session.Send(message, reply));
    client.Give(reply);
    FUZZ_CHECK(client.Decrypt() == message);
  }
}

}  // namespace
}  // namespace ttlogin::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ttlogin::fuzz::FuzzInput in(data, size);
  const std::uint8_t mode = in.U8();
  if ((mode & 1) == 0) {
    const std::size_t split = in.U8();
    ttlogin::fuzz::Raw(split, in.Rest());
  } else {
    ttlogin::fuzz::Live(in);
  }
  return 0;
}
