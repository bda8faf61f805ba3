#include "test/pdu_dump/tool_process.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ttlogin::tools::pdu_dump::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ToolProcess::ToolProcess(const std::vector<std::string>& args, const std::string& stdin_path,
                         int run_as_uid, int run_as_gid) {
  std::vector<std::string> argv = {PDU_DUMP_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  Start(argv, stdin_path, run_as_uid, run_as_gid);
}

ToolProcess::ToolProcess(const OtherProgram& program, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {program.name};
  argv.insert(argv.end(), args.begin(), args.end());
  Start(argv, "", -1, -1);
}

void ToolProcess::Start(const std::vector<std::string>& argv_in, const std::string& stdin_path,
                        int run_as_uid, int run_as_gid) {
  dir_ = (std::filesystem::temp_directory_path() / "pdu_dump_run-XXXXXX").string();
  if (mkdtemp(dir_.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  const std::string out = dir_ + "/stdout";
  const std::string err = dir_ + "/stderr";
  std::vector<std::string> argv_store = argv_in;
  std::vector<char*> argv;
  for (auto& a : argv_store)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ != 0) return;
  const int in_fd = open(stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY);
  const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in_fd < 0 || out_fd < 0 || err_fd < 0) _exit(126);
  dup2(in_fd, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  if (run_as_gid >= 0 && (setgroups(0, nullptr) != 0 || setgid(run_as_gid) != 0)) _exit(125);
  if (run_as_uid >= 0 && setuid(run_as_uid) != 0) _exit(125);
  execvp(argv[0], argv.data());
  _exit(127);
}

ToolProcess::~ToolProcess() {
  if (pid_ > 0 && exit_code_ == -1) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

int ToolProcess::Wait(milliseconds timeout) {
  if (exit_code_ != -1) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = Decode(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

bool ToolProcess::WaitForStderr(const std::string& needle, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (err().find(needle) != std::string::npos) return true;
    if (Wait(milliseconds(0)) != -1) return err().find(needle) != std::string::npos;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

void ToolProcess::Signal(int signo) {
  if (pid_ > 0 && exit_code_ == -1) kill(pid_, signo);
}

std::string ToolProcess::out() const {
  return ReadAll(dir_ + "/stdout");
}
std::string ToolProcess::err() const {
  return ReadAll(dir_ + "/stderr");
}

ToolRun RunPduDump(const std::vector<std::string>& args, const std::string& stdin_bytes,
                   milliseconds timeout) {
  std::string stdin_path;
  std::string tmp_dir;
  if (!stdin_bytes.empty()) {
    tmp_dir = (std::filesystem::temp_directory_path() / "pdu_dump_in-XXXXXX").string();
    if (mkdtemp(tmp_dir.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    stdin_path = tmp_dir + "/stdin";
    std::ofstream(stdin_path, std::ios::binary) << stdin_bytes;
  }
  ToolRun run;
  {
    ToolProcess p(args, stdin_path);
    run.code = p.Wait(timeout);
    run.out = p.out();
    run.err = p.err();
  }
  if (!tmp_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(tmp_dir, ignored);
  }
  return run;
}

}  // namespace ttlogin::tools::pdu_dump::testing

namespace ttlogin::tools::pdu_dump::testing {

ToolRun RunProgram(const OtherProgram& program, const std::vector<std::string>& args,
                   milliseconds timeout) {
  ToolProcess p(program, args);
  ToolRun run;
  run.code = p.Wait(timeout);
  run.out = p.out();
  run.err = p.err();
  return run;
}

}  // namespace ttlogin::tools::pdu_dump::testing
