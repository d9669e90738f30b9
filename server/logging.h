// Structured logging: spdlog writing one JSON object per line to stderr ({"time", "level", "msg",
// then the event's fields such as uid, namespace, pod, revision, reason, latency_us}). Logging is
// asynchronous and drops the oldest lines when its queue is full, so it never blocks an I/O thread.
#pragma once

#include <fmt/format.h>
#include <spdlog/common.h>

#include <cstdint>
#include <string_view>

#include "admission/result.h"

namespace revrouter::server {

// "trace", "debug", "info", "warn" (or "warning"), "error", "off"; code "log_level" otherwise.
Result<spdlog::level::level_enum> parse_log_level(std::string_view name);

// Installs the JSON-lines logger as spdlog's default. Call once at start-up; `shutdown_logging`
// flushes what is queued.
void init_logging(spdlog::level::level_enum level);
void shutdown_logging();

// True when a line at `level` would be written: check before assembling an expensive event.
bool log_enabled(spdlog::level::level_enum level);

// One event's JSON fields after time and level, built without heap allocation for typical lines.
class LogEvent {
 public:
  explicit LogEvent(std::string_view msg);
  LogEvent& str(std::string_view key, std::string_view value);
  LogEvent& num(std::string_view key, std::int64_t value);
  LogEvent& boolean(std::string_view key, bool value);
  // The fields as JSON members without braces: "msg":"...","uid":"..."
  std::string_view fields() const { return {buf_.data(), buf_.size()}; }

 private:
  void key(std::string_view k);
  fmt::memory_buffer buf_;
};

void log(spdlog::level::level_enum level, const LogEvent& event);

// Appends `s` to `out` as the inside of a JSON string (quotes, backslashes and control characters
// escaped).
void append_json_escaped(std::string_view s, fmt::memory_buffer& out);

}  // namespace revrouter::server
