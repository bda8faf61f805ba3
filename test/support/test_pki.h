// A test PKI made at test time with the `openssl` command: a CA, and certificates it signs for
// 127.0.0.1 and localhost. Each call writes PEM files into `dir` and returns their paths; a
// failing openssl command throws std::runtime_error with its output.
#pragma once

#include <string>

namespace ttlogin::test {

enum class KeyType { kEcdsaP256, kRsa2048 };

struct TestCa {
  std::string cert_file;
  std::string key_file;
};

struct TestCert {
  std::string cert_file;   // the leaf certificate
  std::string key_file;    // its unencrypted key
  std::string chain_file;  // the leaf followed by the CA certificate (what a server serves)
};

// A self-signed CA named `name` (files <dir>/<name>.crt and .key).
TestCa MakeCa(const std::string& dir, const std::string& name = "ca");
// A server certificate signed by `ca`, for IP 127.0.0.1 and DNS localhost, valid `days` from now;
// days = -1 makes one that expired a day ago.
TestCert MakeCert(const std::string& dir, const TestCa& ca, const std::string& name, int days = 30,
                  KeyType type = KeyType::kEcdsaP256);

// Runs a shell command; returns its exit status and puts stdout and stderr together in `output`.
int RunCommand(const std::string& command, std::string* output = nullptr);

}  // namespace ttlogin::test
