#include "test/support/test_pki.h"

#include <sys/wait.h>

#include <cstdio>
#include <stdexcept>

namespace ttlogin::test {
namespace {

// The certificates come from the same shell functions as the benchmark's (scripts/lib/test_ca.sh).
void Run(const std::string& call) {
  const std::string command =
      "bash -c \"source '" TTLOGIN_SOURCE_DIR "/scripts/lib/test_ca.sh' && " + call + "\"";
  std::string output;
  if (RunCommand(command, &output) != 0) {
    throw std::runtime_error("test PKI: '" + call + "' failed: " + output);
  }
}

std::string Quoted(const std::string& s) {
  return "'" + s + "'";
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
  Run("make_ca " + Quoted(dir) + " " + Quoted(name));
  return TestCa{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
}

TestCert MakeCert(const std::string& dir, const TestCa& ca, const std::string& name, int days,
                  KeyType type) {
  // make_cert names the CA by its base name in the same folder.
  const std::string ca_base = dir + "/";
  if (ca.cert_file.rfind(ca_base, 0) != 0 || ca.cert_file.size() < ca_base.size() + 5) {
    throw std::runtime_error("test PKI: the CA " + ca.cert_file + " is not in " + dir);
  }
  const std::string ca_name =
      ca.cert_file.substr(ca_base.size(), ca.cert_file.size() - ca_base.size() - 4);
  Run("make_cert " + Quoted(dir) + " " + Quoted(ca_name) + " " + Quoted(name) + " " +
      std::to_string(days) + " " + (type == KeyType::kRsa2048 ? "rsa" : "ec"));
  const std::string base = dir + "/" + name;
  return TestCert{base + ".crt", base + ".key", base + ".chain.crt"};
}

}  // namespace ttlogin::test
