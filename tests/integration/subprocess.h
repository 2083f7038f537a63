// Child processes for tests that run the real executables: spawn with stdout/stderr captured to
// a pipe, wait with a deadline, signal. Thread-compatible.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace osprey::testing {

class Subprocess {
 public:
  // Starts argv[0] (a path) with stdout and stderr both going to one pipe.
  explicit Subprocess(const std::vector<std::string>& argv);
  ~Subprocess();  // SIGKILLs a child still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // The exit code (or 128 + signal) once the child ends within `timeout`; nullopt otherwise.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // Reads what the child wrote so far (non-blocking) and returns all output read until now.
  const std::string& Output();
  // Reads until `needle` appears in the output or `timeout` passes; true if it appeared.
  bool WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string output_;
  std::optional<int> exit_;
};

// Runs a command to completion (shell syntax) and returns (exit code, stdout+stderr).
std::pair<int, std::string> RunCommand(const std::string& command);

}  // namespace osprey::testing
