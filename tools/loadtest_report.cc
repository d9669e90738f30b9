#include "tools/loadtest_report.h"

#include <cmath>
#include <cstdio>

namespace revrouter::loadtest {

namespace {

using ojson = nlohmann::ordered_json;

double seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

// Milliseconds with microsecond resolution, for JSON.
double ms(std::uint64_t ns) { return std::round(static_cast<double>(ns) / 1e3) / 1e3; }

std::string printf_string(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string percentile_name(double p) {
  return p == std::floor(p) ? printf_string("p%.0f", p) : printf_string("p%g", p);
}

std::string duration_text(std::chrono::nanoseconds d) {
  return format_latency(static_cast<std::uint64_t>(d.count()));
}

std::string mode_text(const Settings& s) {
  std::string out = s.plan.rate > 0 ? "open loop at " + printf_string("%g", s.plan.rate) + " req/s"
                                    : std::string("closed loop");
  out += ", " + std::to_string(s.connections) +
         (s.connections == 1 ? " connection, " : " connections, ") + std::to_string(s.threads) +
         (s.threads == 1 ? " thread" : " threads");
  if (s.busy_poll) out += " (busy-polling)";
  if (s.plan.duration.count() > 0) out += ", " + duration_text(s.plan.duration);
  if (s.plan.count > 0) out += ", at most " + std::to_string(s.plan.count) + " requests";
  return out;
}

// `count_key`: "answers" for measured latencies, "samples" for corrected ones.
ojson latency_json(const LatencyHistogram& h, const char* count_key) {
  ojson latency = ojson::object();
  latency[count_key] = h.count();
  latency["min"] = ms(h.min());
  latency["mean"] = ms(static_cast<std::uint64_t>(h.mean()));
  for (const double p : kPercentiles) latency[percentile_name(p)] = ms(h.value_at_percentile(p));
  latency["max"] = ms(h.max());
  return latency;
}

}  // namespace

double achieved_rate(const Counters& counters, std::chrono::nanoseconds elapsed) {
  if (elapsed.count() <= 0) return 0;
  return static_cast<double>(counters.completed) / seconds(elapsed);
}

std::optional<std::uint64_t> closed_loop_interval(const Report& r) {
  const std::uint64_t answers = r.latency.count();
  const unsigned connections = r.settings.connections;
  if (r.settings.plan.rate > 0 || connections == 0 || answers < connections) return std::nullopt;
  return static_cast<std::uint64_t>(static_cast<double>(r.elapsed.count()) /
                                    (static_cast<double>(answers) / connections));
}

std::string format_latency(std::uint64_t ns) {
  const double v = static_cast<double>(ns);
  const auto three = [](double x, const char* unit) {
    const char* f = x < 10 ? "%.2f%s" : x < 100 ? "%.1f%s" : "%.0f%s";
    char buf[32];
    std::snprintf(buf, sizeof buf, f, x, unit);
    return std::string(buf);
  };
  if (v < 1e3) return std::to_string(ns) + "ns";
  if (v < 1e6) return three(v / 1e3, "us");
  if (v < 1e9) return three(v / 1e6, "ms");
  return three(v / 1e9, "s");
}

std::string progress_line(std::chrono::nanoseconds elapsed, std::uint64_t completed,
                          double interval_rate, std::uint64_t p99_ns, std::uint64_t errors) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%6.1fs %10llu requests %9.1f req/s  p99 %-8s %llu errors",
                seconds(elapsed), static_cast<unsigned long long>(completed), interval_rate,
                completed == 0 ? "-" : format_latency(p99_ns).c_str(),
                static_cast<unsigned long long>(errors));
  return buf;
}

std::string render_text(const Report& r) {
  const Settings& s = r.settings;
  const Counters& c = r.counters;
  std::string out;
  out += "revrouter loadtest: " + s.url + " (" + mode_text(s) + ")\n";
  out += "Bodies:    " + std::to_string(s.bodies) + " (" + s.body_source +
         "), a fresh request.uid each; answers checked: " +
         (s.check == Check::kFull ? "status, JSON, uid, allowed" : "HTTP status only") + "\n";
  out += "Requests:  " + std::to_string(c.completed) + " in " +
         printf_string("%.2fs", seconds(r.elapsed)) + ": " + std::to_string(c.ok) + " ok, " +
         std::to_string(c.error_total()) + (c.error_total() == 1 ? " error" : " errors");
  if (c.issued != c.completed) {
    out += " (" + std::to_string(c.issued - c.completed) + " unfinished)";
  }
  out += "\n";
  out += "Rate:      " + printf_string("%.1f", achieved_rate(c, r.elapsed)) + " req/s";
  if (s.plan.rate > 0) out += " (target " + printf_string("%g", s.plan.rate) + " req/s)";
  out += "\n";
  out += "Latency:  ";
  if (r.latency.count() == 0) {
    out += " no answers\n";
  } else {
    for (const double p : kPercentiles) {
      out.append(" ").append(percentile_name(p)).append(" ");
      out.append(format_latency(r.latency.value_at_percentile(p))).append(" ");
    }
    out += " max " + format_latency(r.latency.max()) + "   (mean " +
           format_latency(static_cast<std::uint64_t>(r.latency.mean())) + ", " +
           std::to_string(r.latency.count()) + " answers" +
           (s.plan.rate > 0 ? ", from each request's scheduled time" : "") + ")\n";
  }
  if (const auto interval = closed_loop_interval(r)) {
    const LatencyHistogram corrected = r.latency.corrected(*interval);
    out += "Corrected:";
    for (const double p : kPercentiles) {
      out.append(" ").append(percentile_name(p)).append(" ");
      out.append(format_latency(corrected.value_at_percentile(p))).append(" ");
    }
    out += "  (as wrk reports a closed loop: +" +
           std::to_string(corrected.count() - r.latency.count()) +
           " samples for requests stalls held back, interval " + format_latency(*interval) + ")\n";
  }
  out += "Errors:   ";
  if (c.error_total() == 0) {
    out += " none\n";
  } else {
    for (std::size_t i = 0; i < kErrorClasses; ++i) {
      if (c.errors[i] == 0) continue;
      out.append(" ").append(error_class_name(static_cast<ErrorClass>(i))).append(" ");
      out.append(std::to_string(c.errors[i]));
      if (static_cast<ErrorClass>(i) == ErrorClass::kHttpStatus) {
        std::string codes;
        for (const auto& [code, n] : c.http_status) {
          codes += (codes.empty() ? "" : ", ") + std::to_string(code) + ": " + std::to_string(n);
        }
        out += " (" + codes + ")";
      }
    }
    out += "\n";
    for (std::size_t i = 0; i < kErrorClasses; ++i) {
      if (c.errors[i] == 0) continue;
      out += "  first " + std::string(error_class_name(static_cast<ErrorClass>(i))) + ": " +
             c.samples[i] + "\n";
    }
  }
  if (r.hit_deadline) {
    out += "Stopped at the hard deadline (" + duration_text(s.deadline) +
           "): requests still open then count as timeouts\n";
  }
  if (r.interrupted) out += "Interrupted: the figures cover the run until then\n";
  return out;
}

ojson render_json(const Report& r) {
  const Settings& s = r.settings;
  const Counters& c = r.counters;
  ojson out = ojson::object();
  out["url"] = s.url;
  out["mode"] = s.plan.rate > 0 ? "open-loop" : "closed-loop";
  out["connections"] = s.connections;
  out["threads"] = s.threads;
  out["busyPoll"] = s.busy_poll;
  out["targetRate"] = s.plan.rate > 0 ? ojson(s.plan.rate) : ojson(nullptr);
  out["durationSeconds"] =
      s.plan.duration.count() > 0 ? ojson(seconds(s.plan.duration)) : ojson(nullptr);
  out["count"] = s.plan.count > 0 ? ojson(s.plan.count) : ojson(nullptr);
  out["timeoutSeconds"] = seconds(s.timeout);
  out["deadlineSeconds"] = seconds(s.deadline);
  out["bodies"] = s.bodies;
  out["check"] = s.check == Check::kFull ? "full" : "status";
  out["elapsedSeconds"] = seconds(r.elapsed);
  out["requests"] = {
      {"issued", c.issued}, {"completed", c.completed}, {"ok", c.ok}, {"errors", c.error_total()}};
  out["rate"] = achieved_rate(c, r.elapsed);
  out["latencyMs"] = latency_json(r.latency, "answers");
  if (const auto interval = closed_loop_interval(r)) {
    ojson corrected = latency_json(r.latency.corrected(*interval), "samples");
    corrected["intervalMs"] = ms(*interval);
    out["latencyMsCorrected"] = std::move(corrected);
  } else {
    out["latencyMsCorrected"] = nullptr;
  }
  ojson errors = ojson::object();
  ojson samples = ojson::object();
  for (std::size_t i = 0; i < kErrorClasses; ++i) {
    const std::string name(error_class_name(static_cast<ErrorClass>(i)));
    errors[name] = c.errors[i];
    if (c.errors[i] > 0) samples[name] = c.samples[i];
  }
  out["errors"] = std::move(errors);
  ojson codes = ojson::object();
  for (const auto& [code, n] : c.http_status) codes[std::to_string(code)] = n;
  out["httpStatusErrors"] = std::move(codes);
  out["errorSamples"] = std::move(samples);
  out["hitDeadline"] = r.hit_deadline;
  out["interrupted"] = r.interrupted;
  return out;
}

}  // namespace revrouter::loadtest
