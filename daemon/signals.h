// Termination signals for the executables: blocked in every thread and received synchronously
// by the main thread, so no handler runs in a random thread.
// Call BlockTerminationSignals() first thing in main(), before any thread starts.
#pragma once

#include <chrono>

namespace osprey::daemon {

void BlockTerminationSignals();
// Waits up to `timeout` for SIGTERM or SIGINT; returns the signal number, or 0 on timeout.
int WaitForTerminationSignal(std::chrono::milliseconds timeout);

}  // namespace osprey::daemon
