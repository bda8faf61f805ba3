// The load generator's TLS client side (OpenSSL): one context per run, and a TlsSession per
// connection driving a handshake, reads and writes over a non-blocking socket in the epoll loop.
//
// A benchmark client must not cost more than the server it measures, or every server looks the
// same: a full handshake makes the client verify two ECDSA signatures (the certificate's and the
// CertificateVerify) against the server's one signature. So the certificate chain is verified in
// full (CA, expiry, host name) once per run, and later handshakes that present the very same
// certificate bytes are accepted by comparison (pinning); the CertificateVerify signature is still
// checked on every handshake, as TLS requires.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>

namespace ttlogin::tools::loadgen {

struct TlsOptions {
  std::string cafile;      // PEM CA bundle to verify with; empty: the system's default paths
  std::string servername;  // SNI and the name checked; empty: check `host` as an IP address
  std::string host;        // the address connected to
  std::string version;     // "1.2" or "1.3" pins the version; empty: 1.2 or 1.3, as agreed
  bool resume = false;     // offer the session of the worker's previous connection
  // Release OpenSSL's buffers while a connection is idle (the idle scenario holds thousands).
  bool release_buffers = false;
};

// Where a connection keeps the session to offer on its next connection (tickets or ids). A new
// session the server sends (in TLS 1.3 after the handshake) replaces the previous one.
class TlsSessionSlot {
 public:
  TlsSessionSlot() = default;
  ~TlsSessionSlot();
  TlsSessionSlot(const TlsSessionSlot&) = delete;
  TlsSessionSlot& operator=(const TlsSessionSlot&) = delete;
  // Takes ownership of one reference.
  void Replace(SSL_SESSION* session);
  SSL_SESSION* get() const { return session_; }

 private:
  SSL_SESSION* session_ = nullptr;
};

class TlsClientContext {
 public:
  // The context, or nullptr with `error` naming the cause (an unreadable CA file, a bad version).
  static std::unique_ptr<TlsClientContext> Create(const TlsOptions& options, std::string* error);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  const TlsOptions& options() const { return options_; }
  SSL_CTX* ctx() const { return ctx_; }

 private:
  TlsClientContext(const TlsOptions& options, SSL_CTX* ctx);
  static int VerifyChain(X509_STORE_CTX* store, void* arg);

  TlsOptions options_;
  SSL_CTX* ctx_;
  X509* pinned_ = nullptr;  // the leaf certificate that passed a full verification
};

// One connection's TLS state over a connected non-blocking socket.
class TlsSession {
 public:
  enum class Io {
    kDone,       // the handshake finished, or bytes were read or written
    kWantRead,   // wait for readability, then call again
    kWantWrite,  // wait for writability, then call again
    kClosed,     // the peer closed (close_notify or EOF)
    kFailed,     // error() says why
  };

  // `slot` (may be null) receives the sessions the server issues and, with options().resume,
  // provides the one offered.
  TlsSession(const TlsClientContext& context, int fd, TlsSessionSlot* slot);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  Io Handshake();
  // Reads into `data`; kDone with `*n` bytes (at least 1).
  Io Read(char* data, std::size_t size, std::size_t* n);
  // Writes all of `data` or nothing (OpenSSL's default: no partial writes); on kWantRead or
  // kWantWrite call again with the same bytes.
  Io Write(const char* data, std::size_t size);
  // Sends close_notify without waiting for the peer's, as browsers and curl do.
  void Shutdown();

  bool reused() const { return SSL_session_reused(ssl_) == 1; }
  const char* version() const { return SSL_get_version(ssl_); }
  std::string alpn() const;
  const std::string& error() const { return error_; }

 private:
  Io Outcome(int ret, const char* what);

  SSL* ssl_;
  std::string error_;
};

}  // namespace ttlogin::tools::loadgen
