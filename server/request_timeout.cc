#include "server/request_timeout.h"

#include <cstdint>
#include <limits>
#include <string>

namespace revrouter::server {
namespace {

Error bad_timeout(std::string_view text, std::string_view why) {
  std::string msg = "invalid timeout \"";
  msg.append(text);
  msg.append("\": ");
  msg.append(why);
  msg.append(" (expected a Go duration such as \"10s\" or \"1m30s\")");
  return make_error("bad_timeout", std::move(msg));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The nanoseconds in one `unit`, 0 when unknown.
std::uint64_t unit_nanos(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\xC2\xB5s" /* U+00B5 micro sign */ ||
      unit == "\xCE\xBCs" /* U+03BC Greek mu */)
    return 1'000;
  if (unit == "ms") return 1'000'000;
  if (unit == "s") return 1'000'000'000;
  if (unit == "m") return 60ull * 1'000'000'000;
  if (unit == "h") return 3600ull * 1'000'000'000;
  return 0;
}

}  // namespace

Result<std::chrono::nanoseconds> parse_go_duration(std::string_view text) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds{0};
  if (s.empty()) return bad_timeout(text, "empty duration");

  constexpr std::uint64_t kLimit = std::uint64_t{1} << 63;  // |min int64|
  std::uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || is_digit(s[0]))) return bad_timeout(text, "expected a number");
    // Integer part.
    std::uint64_t whole = 0;
    bool have_whole = false;
    while (!s.empty() && is_digit(s[0])) {
      if (whole > (kLimit - 1) / 10) return bad_timeout(text, "value out of range");
      whole = whole * 10 + static_cast<std::uint64_t>(s[0] - '0');
      if (whole > kLimit) return bad_timeout(text, "value out of range");
      have_whole = true;
      s.remove_prefix(1);
    }
    // Fraction: digits past what 64 bits hold only lose precision, as in Go.
    std::uint64_t fraction = 0;
    double scale = 1;
    bool have_fraction = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      bool overflow = false;
      while (!s.empty() && is_digit(s[0])) {
        have_fraction = true;
        if (!overflow) {
          if (fraction > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) {
            overflow = true;
          } else {
            fraction = fraction * 10 + static_cast<std::uint64_t>(s[0] - '0');
            scale *= 10;
          }
        }
        s.remove_prefix(1);
      }
    }
    if (!have_whole && !have_fraction) return bad_timeout(text, "expected digits");
    // Unit: everything up to the next number.
    std::size_t unit_len = 0;
    while (unit_len < s.size() && s[unit_len] != '.' && !is_digit(s[unit_len])) ++unit_len;
    if (unit_len == 0) return bad_timeout(text, "missing unit");
    const std::uint64_t unit = unit_nanos(s.substr(0, unit_len));
    if (unit == 0) {
      return bad_timeout(text, "unknown unit \"" + std::string(s.substr(0, unit_len)) + "\"");
    }
    s.remove_prefix(unit_len);
    if (whole > kLimit / unit) return bad_timeout(text, "value out of range");
    std::uint64_t value = whole * unit;
    if (fraction > 0) {
      value += static_cast<std::uint64_t>(static_cast<double>(fraction) *
                                          (static_cast<double>(unit) / scale));
      if (value > kLimit) return bad_timeout(text, "value out of range");
    }
    total += value;
    if (total > kLimit) return bad_timeout(text, "value out of range");
  }
  if (!negative && total > kLimit - 1) return bad_timeout(text, "value out of range");
  const auto signed_total =
      negative ? -static_cast<std::int64_t>(total - 1) - 1 : static_cast<std::int64_t>(total);
  return std::chrono::nanoseconds{signed_total};
}

Result<std::optional<std::chrono::nanoseconds>> timeout_from_query(std::string_view query) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = param.find('=');
    if (param.substr(0, eq) != "timeout") continue;
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1);
    auto parsed = parse_go_duration(value);
    if (!parsed) return parsed.error();
    if (parsed->count() <= 0) {
      return make_error("bad_timeout", "invalid timeout \"" + std::string(value) +
                                           "\": the timeout must be positive");
    }
    return std::optional<std::chrono::nanoseconds>{*parsed};
  }
  return std::optional<std::chrono::nanoseconds>{};
}

std::chrono::nanoseconds answer_budget(std::chrono::nanoseconds timeout,
                                       std::chrono::nanoseconds margin) {
  const auto budget = timeout - margin;
  return budget < timeout / 2 ? timeout / 2 : budget;
}

}  // namespace revrouter::server
