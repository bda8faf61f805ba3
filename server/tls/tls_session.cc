#include "server/tls/tls_session.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <climits>
#include <mutex>

namespace ttlogin::server::tls {
namespace {

// What the BIO reads and writes during one call of ours; null between calls, when OpenSSL has
// nothing to read and nowhere to write (so it retries, which no caller asks of it).
struct IoSpan {
  const std::uint8_t* in = nullptr;
  std::size_t in_left = 0;
  std::string* out = nullptr;
};

int SpanWrite(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  auto* io = static_cast<IoSpan*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (io == nullptr || io->out == nullptr) {
    BIO_set_retry_write(bio);
    return 0;
  }
  io->out->append(data, size);
  *written = size;
  return 1;
}

int SpanRead(BIO* bio, char* data, std::size_t size, std::size_t* read) {
  auto* io = static_cast<IoSpan*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (io == nullptr || io->in_left == 0) {
    BIO_set_retry_read(bio);  // "would block": the rest comes with the next read
    return 0;
  }
  const std::size_t n = std::min(size, io->in_left);
  std::copy_n(io->in, n, reinterpret_cast<std::uint8_t*>(data));
  io->in += n;
  io->in_left -= n;
  *read = n;
  return 1;
}

long SpanCtrl(BIO* /*bio*/, int cmd, long /*num*/, void* /*ptr*/) {
  // Writes land in the caller's string at once: a flush has nothing to do.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int SpanCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* SpanMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ttlogin span");
    BIO_meth_set_write_ex(m, SpanWrite);
    BIO_meth_set_read_ex(m, SpanRead);
    BIO_meth_set_ctrl(m, SpanCtrl);
    BIO_meth_set_create(m, SpanCreate);
    return m;
  }();
  return method;
}

// The span BIO of the calling thread, shared by every session the thread drives. It holds nothing
// between calls (SpanScope points it at one call's span and away again), so a BIO per session
// would only cost memory: 208 bytes per connection with its lock (OpenSSL 3.0, counted with
// mallinfo2), held by every idle connection, and two allocations per handshake. Each session holds
// a reference, so the BIO outlives the thread's own for as long as a session uses it. Null when
// OpenSSL cannot make one.
BIO* ThreadBio() {
  struct Holder {
    BIO* bio = BIO_new(SpanMethod());
    ~Holder() { BIO_free(bio); }
  };
  thread_local Holder holder;
  return holder.bio;
}

// Gives `ssl` its own reference to `bio` for both directions (the SSL frees it).
void Attach(SSL* ssl, BIO* bio) {
  BIO_up_ref(bio);
  SSL_set_bio(ssl, bio, bio);
}

// Points the calling thread's BIO at one call's input and output, and away again afterwards. A
// session driven from another thread than before (a test, a fuzzer) is moved to this thread's BIO
// first, so two threads never share one.
class SpanScope {
 public:
  SpanScope(SSL* ssl, IoSpan& io) : bio_(ThreadBio()) {
    if (bio_ == nullptr) return;  // ok() says so: the caller must not call OpenSSL
    if (SSL_get_rbio(ssl) != bio_) Attach(ssl, bio_);
    BIO_set_data(bio_, &io);
  }
  ~SpanScope() {
    if (bio_ != nullptr) BIO_set_data(bio_, nullptr);
  }
  SpanScope(const SpanScope&) = delete;
  SpanScope& operator=(const SpanScope&) = delete;
  bool ok() const { return bio_ != nullptr; }

 private:
  BIO* bio_;
};

HandshakeFailure Classify(unsigned long error) {
  if (ERR_GET_LIB(error) != ERR_LIB_SSL) return HandshakeFailure::kOther;
  switch (ERR_GET_REASON(error)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return HandshakeFailure::kProtocolVersion;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
    case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      return HandshakeFailure::kNoSharedCipher;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
      return HandshakeFailure::kCertificateRejected;
    case SSL_R_HTTP_REQUEST:
      return HandshakeFailure::kPlaintextHttp;
    default:
      return HandshakeFailure::kMalformed;
  }
}

// Plaintext is taken out of OpenSSL in pieces of one record's size.
constexpr std::size_t kRecordPlaintext = 16 * 1024;

}  // namespace

std::string_view HandshakeFailureName(HandshakeFailure f) {
  switch (f) {
    case HandshakeFailure::kProtocolVersion:
      return "protocol_version";
    case HandshakeFailure::kNoSharedCipher:
      return "no_shared_cipher";
    case HandshakeFailure::kCertificateRejected:
      return "certificate_rejected";
    case HandshakeFailure::kMalformed:
      return "malformed";
    case HandshakeFailure::kNotTls:
      return "not_tls";
    case HandshakeFailure::kPlaintextHttp:
      return "plaintext_http";
    case HandshakeFailure::kPeerClosed:
      return "peer_closed";
    case HandshakeFailure::kTimeout:
      return "timeout";
    case HandshakeFailure::kOverCapacity:
      return "over_capacity";
    case HandshakeFailure::kOther:
    case HandshakeFailure::kCount:
      break;
  }
  return "other";
}

FirstByte ClassifyFirstByte(std::uint8_t byte) {
  constexpr std::uint8_t kHandshakeRecord = 22;
  if (byte == kHandshakeRecord) return FirstByte::kTls;
  if (byte >= 'A' && byte <= 'Z') return FirstByte::kPlaintextHttp;
  return FirstByte::kNotTls;
}

TlsSession::~TlsSession() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

bool TlsSession::Start(std::shared_ptr<const TlsContext> context) {
  if (ssl_ != nullptr || !context) return false;
  ssl_ = SSL_new(context->native());
  if (ssl_ == nullptr) {
    error_ = "SSL_new failed";
    ERR_clear_error();
    return false;
  }
  BIO* bio = ThreadBio();
  if (bio == nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    error_ = "BIO_new failed";
    ERR_clear_error();
    return false;
  }
  Attach(ssl_, bio);
  SSL_set_accept_state(ssl_);
  context_ = std::move(context);
  return true;
}

TlsSession::Status TlsSession::Fail(int ssl_error) {
  failed_ = true;
  const unsigned long e = ERR_peek_error();
  if (!handshake_done_) {
    failure_ = ssl_error == SSL_ERROR_SSL ? Classify(e) : HandshakeFailure::kOther;
  }
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    error_ = buf;
  } else {
    error_ = "TLS error " + std::to_string(ssl_error);
  }
  ERR_clear_error();
  return Status::kFailed;
}

TlsSession::Status TlsSession::Receive(std::span<const std::uint8_t> in, std::string& plain,
                                       std::string& wire) {
  if (ssl_ == nullptr || failed_) return Status::kFailed;
  IoSpan io{in.data(), in.size(), &wire};
  SpanScope scope(ssl_, io);
  if (!scope.ok()) {
    failed_ = true;
    error_ = "BIO_new failed";
    return Status::kFailed;
  }
  char buf[kRecordPlaintext];
  std::size_t left_before = io.in_left + 1;  // forces the first pass
  while (true) {
    ERR_clear_error();
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (!handshake_done_ && SSL_is_init_finished(ssl_)) handshake_done_ = true;
    if (n > 0) {
      plain.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    const int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ) {
      if (io.in_left == 0) return Status::kOk;
      // OpenSSL asked for more while input is left: it took some (a record that was not
      // application data), so go on; if it took none it would loop for ever, so it is a fault.
      if (io.in_left < left_before) {
        left_before = io.in_left;
        continue;
      }
      failed_ = true;
      error_ = "TLS stopped reading with input left";
      return Status::kFailed;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return Status::kPeerClosed;
    return Fail(e);
  }
}

bool TlsSession::Send(std::string_view plain, std::string& wire) {
  if (ssl_ == nullptr || failed_ || !handshake_done_) return false;
  IoSpan io{nullptr, 0, &wire};
  SpanScope scope(ssl_, io);
  if (!scope.ok()) {
    failed_ = true;
    error_ = "BIO_new failed";
    return false;
  }
  while (!plain.empty()) {
    ERR_clear_error();
    const int chunk = static_cast<int>(std::min<std::size_t>(plain.size(), INT_MAX));
    const int n = SSL_write(ssl_, plain.data(), chunk);
    if (n <= 0) {
      (void)Fail(SSL_get_error(ssl_, n));
      return false;
    }
    plain.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void TlsSession::Shutdown(std::string& wire) {
  if (ssl_ == nullptr || failed_ || !handshake_done_) return;
  IoSpan io{nullptr, 0, &wire};
  SpanScope scope(ssl_, io);
  if (!scope.ok()) return;
  // Sends our close_notify; we do not wait for the peer's (the connection closes next).
  if (SSL_shutdown(ssl_) < 0) ERR_clear_error();
}

bool TlsSession::resumed() const {
  return ssl_ != nullptr && SSL_session_reused(ssl_) == 1;
}

std::string_view TlsSession::version() const {
  return ssl_ != nullptr && handshake_done_ ? SSL_get_version(ssl_) : "";
}

std::string_view TlsSession::alpn() const {
  if (ssl_ == nullptr) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &data, &len);
  return {reinterpret_cast<const char*>(data), len};
}

}  // namespace ttlogin::server::tls
