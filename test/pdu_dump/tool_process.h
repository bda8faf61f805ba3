// Runs the pdu_dump binary for a test: arguments, optional stdin, stdout and stderr captured to
// files, every wait bounded, and the process killed if a test leaves it running.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace ttlogin::tools::pdu_dump::testing {

using std::chrono::milliseconds;

// Names a program other than pdu_dump (tshark), looked up in PATH.
struct OtherProgram {
  std::string name;
};

class ToolProcess {
 public:
  ToolProcess(const OtherProgram& program, const std::vector<std::string>& args);
  // `run_as_uid`/`gid` other than -1 drop privileges in the child before exec (capture-rights
  // tests).
  explicit ToolProcess(const std::vector<std::string>& args, const std::string& stdin_path = "",
                       int run_as_uid = -1, int run_as_gid = -1);
  ~ToolProcess();
  ToolProcess(const ToolProcess&) = delete;
  ToolProcess& operator=(const ToolProcess&) = delete;

  // Polls stderr until it contains `needle`, the process exits, or `timeout` passes.
  bool WaitForStderr(const std::string& needle, milliseconds timeout);
  // Exit code, 128+signal, or -1 if still running after `timeout`.
  int Wait(milliseconds timeout);
  void Signal(int signo);
  std::string out() const;
  std::string err() const;

 private:
  void Start(const std::vector<std::string>& argv, const std::string& stdin_path, int run_as_uid,
             int run_as_gid);

  std::string dir_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

struct ToolRun {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs `program` to completion (bounded), for tools the tests compare against.
ToolRun RunProgram(const OtherProgram& program, const std::vector<std::string>& args,
                   milliseconds timeout = milliseconds(20000));

// Runs pdu_dump to completion (bounded by `timeout`, then killed) with `stdin_bytes` as stdin.
ToolRun RunPduDump(const std::vector<std::string>& args, const std::string& stdin_bytes = "",
                   milliseconds timeout = milliseconds(20000));

}  // namespace ttlogin::tools::pdu_dump::testing
