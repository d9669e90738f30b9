#include "server/logging.h"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace revrouter::server {

Result<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  using spdlog::level::level_enum;
  if (name == "trace") return level_enum::trace;
  if (name == "debug") return level_enum::debug;
  if (name == "info") return level_enum::info;
  if (name == "warn" || name == "warning") return level_enum::warn;
  if (name == "error") return level_enum::err;
  if (name == "off") return level_enum::off;
  return make_error("log_level", "unknown log level \"" + std::string(name) +
                                     "\": use trace, debug, info, warn, error or off");
}

void init_logging(spdlog::level::level_enum level) {
  // One background thread writes; 8192 queued lines is seconds of a busy server's output.
  spdlog::init_thread_pool(8192, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger =
      std::make_shared<spdlog::async_logger>("revrouter", std::move(sink), spdlog::thread_pool(),
                                             spdlog::async_overflow_policy::overrun_oldest);
  // Messages are pre-rendered JSON members ("msg":"...",...), so %v closes the object.
  logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})", spdlog::pattern_time_type::utc));
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

void shutdown_logging() { spdlog::shutdown(); }

bool log_enabled(spdlog::level::level_enum level) {
  return spdlog::default_logger_raw()->should_log(level);
}

void append_json_escaped(std::string_view s, fmt::memory_buffer& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : s) {
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          const char esc[] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 0xF], kHex[c & 0xF]};
          out.append(esc, esc + sizeof esc);
        } else {
          out.push_back(c);
        }
    }
  }
}

LogEvent::LogEvent(std::string_view msg) { str("msg", msg); }

void LogEvent::key(std::string_view k) {
  if (buf_.size() > 0) buf_.push_back(',');
  buf_.push_back('"');
  buf_.append(k);
  buf_.append(std::string_view("\":"));
}

LogEvent& LogEvent::str(std::string_view k, std::string_view value) {
  key(k);
  buf_.push_back('"');
  append_json_escaped(value, buf_);
  buf_.push_back('"');
  return *this;
}

LogEvent& LogEvent::num(std::string_view k, std::int64_t value) {
  key(k);
  fmt::format_to(std::back_inserter(buf_), "{}", value);
  return *this;
}

LogEvent& LogEvent::boolean(std::string_view k, bool value) {
  key(k);
  buf_.append(value ? std::string_view("true") : std::string_view("false"));
  return *this;
}

void log(spdlog::level::level_enum level, const LogEvent& event) {
  // The source_loc overload taking a string_view writes the text as is (no format parsing: the
  // JSON's braces are not placeholders).
  const std::string_view f = event.fields();
  spdlog::default_logger_raw()->log(spdlog::source_loc{}, level,
                                    spdlog::string_view_t(f.data(), f.size()));
}

}  // namespace revrouter::server
