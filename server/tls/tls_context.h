// TlsContext: one certificate chain and key, checked and ready for handshakes (an OpenSSL
// SSL_CTX with our settings). Immutable once loaded: a reload loads a new one and swaps it into a
// TlsContextSlot, and each connection keeps the context it started with until it closes.
//
// Settings: TLS 1.2 and 1.3 (or 1.3 only), ALPN http/1.1, session tickets sealed with the
// process's TicketKeys, no session cache, no renegotiation, OpenSSL's buffers released whenever
// they are empty (SSL_MODE_RELEASE_BUFFERS), so an idle connection holds only its SSL object. The
// price is that OpenSSL allocates a record buffer for each read and write it makes (nginx runs the
// same way); keeping them costs about 33 KB more per idle connection (measured with OpenSSL 3.0:
// 47.5 KB of allocations per idle TLS 1.3 session with them kept, 14.2 KB without).
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>

#include "server/tls/ticket_keys.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace ttlogin::server::tls {

enum class TlsVersion : std::uint8_t { k12, k13 };

struct TlsSettings {
  std::string certificate_file;  // PEM: the certificate, then its chain
  std::string private_key_file;  // PEM, unencrypted
  TlsVersion min_version = TlsVersion::k12;
  std::string ciphers;        // TLS 1.2 cipher list (OpenSSL syntax); empty: our default
  std::string cipher_suites;  // TLS 1.3 suites; empty: OpenSSL's three, AES-128-GCM first
};

// A certificate expiring within this many days is loaded with a warning.
inline constexpr int kExpiryWarningDays = 14;
// The biggest PEM file we read (a chain of a few certificates is a few kilobytes).
inline constexpr std::size_t kMaxPemFileSize = 1024 * 1024;

class TlsContext {
 public:
  struct LoadResult {
    std::shared_ptr<const TlsContext> context;  // null on error
    std::string error;    // names the config key (TlsCertificate, TlsPrivateKey, ...)
    std::string warning;  // e.g. expiry within kExpiryWarningDays
  };
  // Reads the files named by `settings` and checks the pair: both readable, the key unencrypted
  // and matching the certificate, the certificate valid at `now`.
  static LoadResult Load(const TlsSettings& settings, std::shared_ptr<TicketKeys> keys,
                         std::time_t now);
  // As Load, from PEM text (the fuzzer and unit tests make their pair in memory).
  static LoadResult FromPem(const std::string& certificate_pem, const std::string& key_pem,
                            const TlsSettings& settings, std::shared_ptr<TicketKeys> keys,
                            std::time_t now);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  // The leaf certificate's notAfter, as Unix time.
  std::int64_t not_after() const { return not_after_; }
  const std::string& subject() const { return subject_; }

 private:
  TlsContext(SSL_CTX* ctx, std::shared_ptr<TicketKeys> keys) : ctx_(ctx), keys_(std::move(keys)) {}

  SSL_CTX* ctx_;
  std::shared_ptr<TicketKeys> keys_;  // the ticket callback reaches it through the SSL_CTX
  std::int64_t not_after_ = 0;
  std::string subject_;
};

// The context new connections start with. Read once per accepted connection, written by a
// reload: a mutex around a shared_ptr copy is the whole cost.
class TlsContextSlot {
 public:
  std::shared_ptr<const TlsContext> Get() const {
    std::lock_guard lock(mu_);
    return context_;
  }
  void Set(std::shared_ptr<const TlsContext> context) {
    std::lock_guard lock(mu_);
    context_.swap(context);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const TlsContext> context_;
};

}  // namespace ttlogin::server::tls
