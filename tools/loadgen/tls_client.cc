#include "tools/loadgen/tls_client.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>

namespace ttlogin::tools::loadgen {
namespace {

// ALPN protocol list in wire format: one length-prefixed name.
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// The first error on OpenSSL's queue as text (the queue is emptied), or an empty string.
std::string TakeOpenSslError() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    if (text.empty()) {
      char buffer[256];
      ERR_error_string_n(code, buffer, sizeof buffer);
      text = buffer;
    }
  }
  return text;
}

int OnNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<TlsSessionSlot*>(SSL_get_app_data(ssl));
  if (slot == nullptr) return 0;  // OpenSSL keeps its reference and frees the session
  slot->Replace(session);
  return 1;  // the slot now owns the reference
}

}  // namespace

TlsSessionSlot::~TlsSessionSlot() {
  if (session_ != nullptr) SSL_SESSION_free(session_);
}

void TlsSessionSlot::Replace(SSL_SESSION* session) {
  if (session_ != nullptr) SSL_SESSION_free(session_);
  session_ = session;
}

std::unique_ptr<TlsClientContext> TlsClientContext::Create(const TlsOptions& options,
                                                           std::string* error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    *error = "SSL_CTX_new: " + TakeOpenSslError();
    return nullptr;
  }
  std::unique_ptr<TlsClientContext> context(new TlsClientContext(options, ctx));
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  if (options.version == "1.2") {
    max_version = TLS1_2_VERSION;
  } else if (options.version == "1.3") {
    min_version = TLS1_3_VERSION;
  } else if (!options.version.empty()) {
    *error = "--tls-version must be 1.2 or 1.3, not " + options.version;
    return nullptr;
  }
  if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, max_version) != 1) {
    *error = "cannot set the TLS version: " + TakeOpenSslError();
    return nullptr;
  }
  const int loaded = options.cafile.empty()
                         ? SSL_CTX_set_default_verify_paths(ctx)
                         : SSL_CTX_load_verify_locations(ctx, options.cafile.c_str(), nullptr);
  if (loaded != 1) {
    *error = "cannot load the CA file " +
             (options.cafile.empty() ? std::string("(system default)") : options.cafile) + ": " +
             TakeOpenSslError();
    return nullptr;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, &TlsClientContext::VerifyChain, context.get());
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  const int named = options.servername.empty()
                        ? X509_VERIFY_PARAM_set1_ip_asc(param, options.host.c_str())
                        : X509_VERIFY_PARAM_set1_host(param, options.servername.c_str(), 0);
  if (named != 1) {
    *error = "cannot check the server's name " +
             (options.servername.empty() ? options.host : options.servername);
    return nullptr;
  }
  if (SSL_CTX_set_alpn_protos(ctx, kAlpnHttp11, sizeof kAlpnHttp11) != 0) {
    *error = "cannot set ALPN: " + TakeOpenSslError();
    return nullptr;
  }
  // A server that closes after its reply without close_notify is an EOF, not an error.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (options.release_buffers) SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (options.resume) {
    // Sessions go to the connection's slot only, never to a shared cache: each worker resumes
    // its own previous session, as one app reconnecting would.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, OnNewSession);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  return context;
}

TlsClientContext::TlsClientContext(const TlsOptions& options, SSL_CTX* ctx)
    : options_(options), ctx_(ctx) {}

TlsClientContext::~TlsClientContext() {
  if (pinned_ != nullptr) X509_free(pinned_);
  SSL_CTX_free(ctx_);
}

int TlsClientContext::VerifyChain(X509_STORE_CTX* store, void* arg) {
  auto* self = static_cast<TlsClientContext*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  if (self->pinned_ != nullptr && leaf != nullptr && X509_cmp(leaf, self->pinned_) == 0) {
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
  }
  const int ok = X509_verify_cert(store);
  if (ok == 1 && self->pinned_ == nullptr && leaf != nullptr && X509_up_ref(leaf) == 1) {
    self->pinned_ = leaf;
  }
  return ok == 1 ? 1 : 0;
}

TlsSession::TlsSession(const TlsClientContext& context, int fd, TlsSessionSlot* slot)
    : ssl_(SSL_new(context.ctx())) {
  if (ssl_ == nullptr) {
    error_ = "SSL_new: " + TakeOpenSslError();
    return;
  }
  SSL_set_fd(ssl_, fd);
  SSL_set_connect_state(ssl_);
  const TlsOptions& options = context.options();
  if (!options.servername.empty()) SSL_set_tlsext_host_name(ssl_, options.servername.c_str());
  SSL_set_app_data(ssl_, slot);
  if (options.resume && slot != nullptr && slot->get() != nullptr) {
    SSL_set_session(ssl_, slot->get());
  }
}

TlsSession::~TlsSession() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

TlsSession::Io TlsSession::Handshake() {
  if (ssl_ == nullptr) return Io::kFailed;
  errno = 0;  // SSL_ERROR_SYSCALL reads it
  const Io io = Outcome(SSL_do_handshake(ssl_), "handshake");
  if (io == Io::kClosed) {
    error_ = "the server closed the connection during the TLS handshake";
    return Io::kFailed;
  }
  return io;
}

TlsSession::Io TlsSession::Read(char* data, std::size_t size, std::size_t* n) {
  *n = 0;
  errno = 0;
  return Outcome(SSL_read_ex(ssl_, data, size, n), "read");
}

TlsSession::Io TlsSession::Write(const char* data, std::size_t size) {
  std::size_t written = 0;
  errno = 0;
  return Outcome(SSL_write_ex(ssl_, data, size, &written), "write");
}

void TlsSession::Shutdown() {
  if (ssl_ != nullptr && SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string TlsSession::alpn() const {
  const unsigned char* name = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &name, &length);
  if (length == 0) return "none";
  return std::string(reinterpret_cast<const char*>(name), length);
}

TlsSession::Io TlsSession::Outcome(int ret, const char* what) {
  if (ret == 1) return Io::kDone;
  const int saved_errno = errno;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      return Io::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Io::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return Io::kClosed;
    case SSL_ERROR_SYSCALL: {
      std::string queued = TakeOpenSslError();
      if (queued.empty() && saved_errno == 0) return Io::kClosed;
      error_ = std::string("TLS ") + what +
               " failed: " + (queued.empty() ? std::string(std::strerror(saved_errno)) : queued);
      return Io::kFailed;
    }
    default: {
      error_ = std::string("TLS ") + what + " failed: " + TakeOpenSslError();
      const long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK) {
        error_ += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) + ")";
      }
      return Io::kFailed;
    }
  }
}

}  // namespace ttlogin::tools::loadgen
