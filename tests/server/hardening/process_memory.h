// Finds a running server by a string on its command line and reads its resident memory, for the
// bad-input tests' "memory stays flat" checks (ServerProcess does not expose its pid).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace revrouter::server::testing {

// The pid of the one process whose command line contains `needle` (e.g. the test's temp dir), or
// nullopt when none or several match.
std::optional<pid_t> find_process(const std::string& needle);

// VmRSS of `pid` in KiB from /proc/<pid>/status; nullopt if the process is gone.
std::optional<long> resident_kib(pid_t pid);

}  // namespace revrouter::server::testing
