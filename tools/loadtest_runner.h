// The load generator's engine: one Asio io_context per thread, each with its share of N kept-alive
// TLS connections (verified as kube-apiserver verifies a webhook: CA bundle and server name).
// Closed loop: each connection sends the next request as soon as the previous answer arrives.
// Open loop: requests are due at fixed intervals from the start; one due while every connection is
// busy waits in a queue, and its latency counts from the due time (no coordinated omission).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "admission/result.h"
#include "tools/loadtest_body.h"
#include "tools/loadtest_report.h"
#include "tools/loadtest_schedule.h"

namespace revrouter::loadtest {

struct RunnerOptions {
  std::string url;          // https://host[:port][/path]
  std::string ca_file;      // PEM bundle; "": the system trust store
  std::string server_name;  // SNI and the name the certificate must carry; "": the URL's host
  std::string cert_file, key_file;  // client certificate for mTLS; optional
  std::string query;                // appended to every body's path, e.g. "?timeout=10s"
  unsigned connections = 8;
  unsigned threads = 1;  // clamped to `connections`
  // The I/O threads poll without sleeping while the plan runs (each keeps a CPU busy): see
  // `revrouter loadtest --busy-poll`.
  bool busy_poll = false;
  Plan plan;
  std::chrono::nanoseconds timeout{std::chrono::seconds(10)};  // connect, handshake, each answer
  std::chrono::nanoseconds deadline{0};  // hard: everything still open then is abandoned
  std::vector<BodyTemplate> bodies;      // request i sends bodies[i % size]
  std::uint64_t run_id = 0;              // the first 12 hex digits of every uid
  Check check = Check::kFull;            // what each answer must be to count as ok
  // Called from the calling thread about once a second while the run goes on.
  std::function<void(const std::string& line)> progress;
  const std::atomic<bool>* stop = nullptr;  // set (by a signal handler) to end the run early
};

// Opens every connection, then runs the plan. Errors: a bad URL or TLS file (code "usage" or
// "tls"), or a connection that cannot be opened before the start (code "connect", "tls" or
// "timeout", with the cause). Failures during the run are counted in the report instead.
Result<Report> run_load(const RunnerOptions& options);

}  // namespace revrouter::loadtest
