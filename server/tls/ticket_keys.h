// TicketKeys: the keys that encrypt TLS session tickets, rotated on a period and shared by every
// TlsContext of the process, so a reload of the certificate does not end resumption.
//
// Why tickets and not a session cache: a ticket keeps the session state with the client, so the
// server stores nothing per session and the io threads share no cache (OpenSSL's session cache is
// one locked table per SSL_CTX, touched by every handshake of every thread, and it would be lost
// with the context at each certificate reload). The price of tickets is that whoever steals a
// ticket key can decrypt the sessions it sealed; so the key that seals new tickets is replaced
// every period, and a key is accepted for one more period after that (tickets it sealed are
// renewed under the current key), then forgotten: a stolen key opens at most two periods of
// sessions. Keys live only in memory: a restart starts with new keys (full handshakes once).
//
// The ticket callback runs once per handshake (never per request), so a mutex is cheap here;
// rotation happens lazily inside it when the period has passed, so no timer is needed.
//
// The cipher the tickets are sealed with is fetched from OpenSSL's provider once, here, and shared
// by every context: OpenSSL 3 resolves a legacy handle such as EVP_aes_256_cbc() with a provider
// lookup (a locked table search by name) at each EVP_EncryptInit_ex, that is at every ticket
// sealed or opened, while a fetched one is used as it is.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

typedef struct evp_cipher_st EVP_CIPHER;

namespace ttlogin::server::tls {

class TicketKeys {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;
  static constexpr std::chrono::seconds kDefaultPeriod{3600};

  // Throws std::runtime_error when OpenSSL has no randomness or no AES-256-CBC: no safe ticket
  // can be made then.
  explicit TicketKeys(std::chrono::seconds period = kDefaultPeriod, Now now = nullptr);
  ~TicketKeys();
  TicketKeys(const TicketKeys&) = delete;
  TicketKeys& operator=(const TicketKeys&) = delete;

  struct Key {
    std::array<std::uint8_t, 16> name{};
    std::array<std::uint8_t, 32> aes{};   // AES-256-CBC key
    std::array<std::uint8_t, 32> hmac{};  // HMAC-SHA256 key
    Clock::time_point created{};
    bool valid = false;
  };
  // The key that seals a new ticket now (rotating first when its period has passed).
  Key ForSealing();
  // The key named `name`, if it may still open a ticket: `renew` says it is the previous key,
  // so the ticket should be replaced by one sealed with the current key.
  bool ForOpening(const std::uint8_t* name, Key& key, bool& renew);
  // Starts a new period now (tests; the period does it by itself).
  void Rotate();

  std::chrono::seconds period() const { return period_; }
  // AES-256-CBC, fetched once: what the ticket callback seals and opens tickets with.
  const EVP_CIPHER* cipher() const { return cipher_; }

 private:
  void RotateLocked(Clock::time_point now);
  Clock::time_point Time() const { return now_ ? now_() : Clock::now(); }

  const std::chrono::seconds period_;
  const Now now_;
  EVP_CIPHER* const cipher_;
  std::mutex mu_;
  Key current_;
  Key previous_;
};

}  // namespace ttlogin::server::tls
