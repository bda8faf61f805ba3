// TlsSession: one connection's TLS as a pure byte transform, with no socket. The connection hands
// it the peer's bytes and gets plaintext plus the bytes to send back (handshake messages, alerts);
// it hands it replies and gets records. So it is unit-tested and fuzzed without sockets, and it
// fits the connection layer's per-thread read buffer: OpenSSL reads through a BIO that points at
// the caller's span for the duration of one call and writes through it to the caller's string,
// and keeps no buffer of its own while idle (SSL_MODE_RELEASE_BUFFERS). That BIO is the calling
// thread's, shared by its sessions, as it holds nothing between calls. An idle session is its SSL
// object and a reference to its context.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "server/tls/tls_context.h"

typedef struct ssl_st SSL;

namespace ttlogin::server::tls {

// Why a handshake failed: a bounded set, for the metric's label.
enum class HandshakeFailure : std::uint8_t {
  kProtocolVersion,      // the client offers no version we accept (TLS 1.0/1.1, SSLv3)
  kNoSharedCipher,       // nor a cipher, group or signature we share
  kCertificateRejected,  // the client's alert: it does not trust our certificate
  kMalformed,            // bytes that are not a valid TLS handshake
  kNotTls,               // the first byte cannot start a TLS handshake record
  kPlaintextHttp,        // the first bytes are a plaintext HTTP request
  kPeerClosed,           // the client closed or reset before the handshake finished
  kTimeout,              // TlsHandshakeTimeout passed
  kOverCapacity,         // MaxTlsHandshakes were in progress already
  kOther,
  kCount
};
std::string_view HandshakeFailureName(HandshakeFailure f);

// What the first byte of a connection says, before any of it reaches OpenSSL.
enum class FirstByte : std::uint8_t { kTls, kPlaintextHttp, kNotTls };
// A TLS connection opens with a handshake record (content type 22); a plaintext HTTP request
// with a method name in capitals. Anything else is neither.
FirstByte ClassifyFirstByte(std::uint8_t byte);

class TlsSession {
 public:
  TlsSession() = default;
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Makes the SSL object for a server-side handshake. Returns false when OpenSSL cannot.
  [[nodiscard]] bool Start(std::shared_ptr<const TlsContext> context);

  enum class Status : std::uint8_t {
    kOk,          // all input taken; more may come
    kPeerClosed,  // the peer sent close_notify: nothing more will come
    kFailed,      // a fatal error (handshake or record); `failure()` and `error()` say which
  };
  // Takes every byte of `in`. Appends the plaintext it decrypted to `plain` and the bytes to send
  // to the peer (handshake, alerts) to `wire`.
  [[nodiscard]] Status Receive(std::span<const std::uint8_t> in, std::string& plain,
                               std::string& wire);
  // Encrypts `plain` into records appended to `wire`. False once the session has failed.
  [[nodiscard]] bool Send(std::string_view plain, std::string& wire);
  // Appends close_notify to `wire` (when the handshake finished; nothing otherwise).
  void Shutdown(std::string& wire);

  bool started() const { return ssl_ != nullptr; }
  bool handshake_done() const { return handshake_done_; }
  bool resumed() const;
  // The negotiated protocol ("TLSv1.3") and ALPN ("http/1.1", or empty), after the handshake.
  std::string_view version() const;
  std::string_view alpn() const;
  HandshakeFailure failure() const { return failure_; }
  // OpenSSL's text for the failure, for a debug log line.
  const std::string& error() const { return error_; }

 private:
  Status Fail(int ssl_error);

  SSL* ssl_ = nullptr;
  std::shared_ptr<const TlsContext> context_;
  bool handshake_done_ = false;
  bool failed_ = false;
  HandshakeFailure failure_ = HandshakeFailure::kOther;
  std::string error_;
};

}  // namespace ttlogin::server::tls
