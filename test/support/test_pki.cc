#include "test/support/test_pki.h"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace ttlogin::test {
namespace {

std::string KeyCommand(KeyType type, const std::string& key_file) {
  if (type == KeyType::kRsa2048) {
    return "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out '" + key_file + "'";
  }
  return "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '" + key_file + "'";
}

void Run(const std::string& command) {
  std::string output;
  if (RunCommand(command, &output) != 0) {
    throw std::runtime_error("test PKI: '" + command + "' failed: " + output);
  }
}

}  // namespace

int RunCommand(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) {
    if (output != nullptr) output->append(buf, n);
  }
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TestCa MakeCa(const std::string& dir, const std::string& name) {
  TestCa ca{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
  Run(KeyCommand(KeyType::kEcdsaP256, ca.key_file));
  Run("openssl req -x509 -new -key '" + ca.key_file + "' -days 30 -subj '/CN=ttlogin test " + name +
      "' -addext basicConstraints=critical,CA:TRUE -addext "
      "keyUsage=critical,keyCertSign,cRLSign -out '" +
      ca.cert_file + "'");
  return ca;
}

TestCert MakeCert(const std::string& dir, const TestCa& ca, const std::string& name, int days,
                  KeyType type) {
  const std::string base = dir + "/" + name;
  TestCert cert{base + ".crt", base + ".key", base + ".chain.crt"};
  Run(KeyCommand(type, cert.key_file));
  {
    std::ofstream ext(base + ".ext");
    ext << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
           "basicConstraints=CA:FALSE\n"
           "extendedKeyUsage=serverAuth\n";
  }
  Run("openssl req -new -key '" + cert.key_file + "' -subj '/CN=" + name + "' -out '" + base +
      ".csr'");
  Run("openssl x509 -req -in '" + base + ".csr' -CA '" + ca.cert_file + "' -CAkey '" + ca.key_file +
      "' -CAcreateserial -days " + std::to_string(days) + " -extfile '" + base + ".ext' -out '" +
      cert.cert_file + "'");
  Run("cat '" + cert.cert_file + "' '" + ca.cert_file + "' > '" + cert.chain_file + "'");
  return cert;
}

}  // namespace ttlogin::test
