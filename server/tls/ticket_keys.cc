#include "server/tls/ticket_keys.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace ttlogin::server::tls {

TicketKeys::TicketKeys(std::chrono::seconds period, Now now)
    : period_(period),
      now_(std::move(now)),
      cipher_(EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr)) {
  if (cipher_ == nullptr) {
    throw std::runtime_error("OpenSSL has no AES-256-CBC: no session ticket can be sealed");
  }
  std::lock_guard lock(mu_);
  RotateLocked(Time());
}

TicketKeys::~TicketKeys() {
  EVP_CIPHER_free(cipher_);
}

void TicketKeys::RotateLocked(Clock::time_point now) {
  Key next;
  if (RAND_bytes(next.name.data(), static_cast<int>(next.name.size())) != 1 ||
      RAND_bytes(next.aes.data(), static_cast<int>(next.aes.size())) != 1 ||
      RAND_bytes(next.hmac.data(), static_cast<int>(next.hmac.size())) != 1) {
    // No randomness means no safe ticket: fail loudly rather than seal with a guessable key.
    throw std::runtime_error("RAND_bytes failed: no session ticket key");
  }
  next.created = now;
  next.valid = true;
  previous_ = current_;
  current_ = next;
}

void TicketKeys::Rotate() {
  std::lock_guard lock(mu_);
  RotateLocked(Time());
}

TicketKeys::Key TicketKeys::ForSealing() {
  std::lock_guard lock(mu_);
  const Clock::time_point now = Time();
  if (now - current_.created >= period_) RotateLocked(now);
  return current_;
}

bool TicketKeys::ForOpening(const std::uint8_t* name, Key& key, bool& renew) {
  std::lock_guard lock(mu_);
  const Clock::time_point now = Time();
  // A server idle for long has not rotated: judge the keys by their age, not by rotations.
  if (now - current_.created >= period_) RotateLocked(now);
  auto named = [&](const Key& k) {
    return k.valid && std::equal(k.name.begin(), k.name.end(), name);
  };
  if (named(current_)) {
    key = current_;
    renew = false;
    return true;
  }
  if (named(previous_) && now - previous_.created < 2 * period_) {
    key = previous_;
    renew = true;
    return true;
  }
  return false;
}

}  // namespace ttlogin::server::tls
