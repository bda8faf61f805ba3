// A TLS client in memory for the TlsSession tests: OpenSSL's client side over two memory BIOs, so
// a handshake runs between it and a TlsSession without sockets.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>

#include "server/tls/tls_session.h"

namespace ttlogin::server::tls {

class TestClient {
 public:
  // `min`/`max`: protocol versions (TLS1_2_VERSION...); `ca_file` to verify against, or empty.
  TestClient(int min, int max, const std::string& ca_file = "") {
    ctx_ = SSL_CTX_new(TLS_client_method());
    // Old versions need the lowest security level to be offered at all.
    SSL_CTX_set_security_level(ctx_, 0);
    SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(ctx_, min);
    SSL_CTX_set_max_proto_version(ctx_, max);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT);
    if (!ca_file.empty()) {
      SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
    static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx_, kAlpn, sizeof kAlpn);
    NewConnection(nullptr);
  }
  ~TestClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // A new connection, offering `session` for resumption when not null.
  void NewConnection(SSL_SESSION* session) {
    if (ssl_ != nullptr) {
      // Closed as after a clean shutdown: OpenSSL marks the session of a connection freed
      // without one as not resumable.
      SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
      SSL_free(ssl_);
    }
    ssl_ = SSL_new(ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_connect_state(ssl_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    if (session != nullptr) SSL_set_session(ssl_, session);
  }

  // Bytes the client wants to send now (after driving its state machine).
  std::string Pending() {
    SSL_do_handshake(ssl_);
    ERR_clear_error();
    return Drain();
  }
  std::string Drain() {
    std::string bytes;
    char buf[4096];
    int n = 0;
    while ((n = BIO_read(out_, buf, sizeof buf)) > 0)
      bytes.append(buf, static_cast<std::size_t>(n));
    return bytes;
  }
  void Give(const std::string& bytes) {
    if (!bytes.empty()) BIO_write(in_, bytes.data(), static_cast<int>(bytes.size()));
  }
  // Encrypts application data.
  std::string Encrypt(const std::string& plain) {
    SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    return Drain();
  }
  // Decrypts what the server sent (given with Give). Returns the plaintext; `closed` on
  // close_notify.
  std::string Decrypt(bool* closed = nullptr) {
    std::string plain;
    char buf[4096];
    while (true) {
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) {
        plain.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (closed != nullptr) *closed = SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN;
      ERR_clear_error();
      return plain;
    }
  }
  bool done() const { return SSL_is_init_finished(ssl_) == 1; }
  SSL* ssl() { return ssl_; }
  SSL_SESSION* session() { return SSL_get1_session(ssl_); }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
};

// Runs the handshake between `client` and `server`, feeding the server `split` bytes at a time
// (0: whole flights). Returns the server's last status.
inline TlsSession::Status Handshake(TestClient& client, TlsSession& server, std::size_t split = 0) {
  TlsSession::Status status = TlsSession::Status::kOk;
  for (int round = 0; round < 10 && !(client.done() && server.handshake_done()); ++round) {
    const std::string to_server = client.Pending();
    std::string plain;
    std::string to_client;
    if (split == 0) {
      status = server.Receive(
          {reinterpret_cast<const std::uint8_t*>(to_server.data()), to_server.size()}, plain,
          to_client);
    } else {
      for (std::size_t i = 0; i < to_server.size() && status == TlsSession::Status::kOk;
           i += split) {
        const std::size_t n = std::min(split, to_server.size() - i);
        status = server.Receive({reinterpret_cast<const std::uint8_t*>(to_server.data()) + i, n},
                                plain, to_client);
      }
    }
    client.Give(to_client);
    if (status != TlsSession::Status::kOk) break;
  }
  client.Pending();  // the client reads the server's last flight (and its ticket)
  client.Decrypt();
  return status;
}

}  // namespace ttlogin::server::tls
