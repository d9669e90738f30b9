// `revrouter loadtest`: an HTTPS load generator for injection latency. Closed loop (each of N
// kept-alive connections sends as soon as it has its answer) or open loop (--rate: requests due at
// fixed intervals, latency from the due time). A thin main over tools/loadtest*.h.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "server/request_timeout.h"
#include "tools/commands.h"
#include "tools/https_client.h"
#include "tools/loadtest_body.h"
#include "tools/loadtest_report.h"
#include "tools/loadtest_runner.h"

namespace revrouter::tools {
namespace {

constexpr int kExitErrors = 1;  // some request failed, or the run could not start
constexpr int kExitUsage = 2;   // bad arguments or inputs

struct LoadtestArgs {
  std::vector<std::string> inputs;
  std::string url;
  std::string ca, server_name, cert, key;
  unsigned connections = 8;
  unsigned threads = 1;
  double rate = 0;
  std::string duration;
  std::uint64_t count = 0;
  std::string timeout = "10s";
  std::string deadline;
  std::string path;
  std::string output = "text";
  std::string check = "full";
  bool quiet = false;
  bool print_body = false;
  bool busy_poll = false;
};

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

int usage(const std::string& message) {
  std::fprintf(stderr, "revrouter loadtest: %s\n", message.c_str());
  return kExitUsage;
}

// A positive Go duration ("10s", "500ms"), as the API server writes webhook timeouts.
bool parse_duration(std::string_view flag, const std::string& text, std::chrono::nanoseconds& out,
                    std::string& error) {
  auto d = server::parse_go_duration(text);
  if (!d || d->count() <= 0) {
    error = std::string(flag) + ": \"" + text + "\" is not a positive duration (e.g. 10s)";
    return false;
  }
  out = *d;
  return true;
}

// The ?timeout= value kube-apiserver appends: whole seconds, or milliseconds.
std::string timeout_query(std::chrono::nanoseconds timeout) {
  using namespace std::chrono;
  if (timeout % seconds(1) == nanoseconds(0)) {
    return "?timeout=" + std::to_string(duration_cast<seconds>(timeout).count()) + "s";
  }
  return "?timeout=" +
         std::to_string(std::max<long long>(
             1, static_cast<long long>(duration_cast<milliseconds>(timeout).count()))) +
         "ms";
}

int run_loadtest(const LoadtestArgs& args) {
  if (args.output != "text" && args.output != "json") {
    return usage("--output " + args.output + ": want text or json");
  }
  if (args.connections == 0) return usage("--connections must be at least 1");
  if (args.threads == 0) return usage("--threads must be at least 1");
  if (args.rate < 0) return usage("--rate must be positive");
  if (args.check != "full" && args.check != "status") {
    return usage("--check " + args.check + ": want full or status");
  }

  loadtest::RunnerOptions options;
  options.url = args.url;
  options.ca_file = args.ca;
  options.server_name = args.server_name;
  options.cert_file = args.cert;
  options.key_file = args.key;
  options.connections = args.connections;
  options.threads = args.threads;
  options.busy_poll = args.busy_poll;
  options.plan.rate = args.rate;
  options.check = args.check == "full" ? loadtest::Check::kFull : loadtest::Check::kStatus;
  options.plan.count = args.count;
  std::string error;
  if (!args.duration.empty() &&
      !parse_duration("--duration", args.duration, options.plan.duration, error)) {
    return usage(error);
  }
  if (args.duration.empty() && args.count == 0) options.plan.duration = std::chrono::seconds(10);
  if (!parse_duration("--timeout", args.timeout, options.timeout, error)) return usage(error);
  if (!args.deadline.empty() &&
      !parse_duration("--deadline", args.deadline, options.deadline, error)) {
    return usage(error);
  }
  options.query = timeout_query(options.timeout);

  auto url = parse_https_url(args.url);
  if (!url) return usage(url.error().message);
  // The webhook path: --path, else the URL's (as a webhook's clientConfig.url carries it), else
  // a namespace labelled istio-injection=enabled.
  const std::string url_path = url->path == "/" ? "" : url->path;
  if (!args.path.empty() && !url_path.empty() && args.path != url_path) {
    return usage("--path " + args.path + " and the path of --url (" + url_path +
                 ") disagree; give one");
  }
  const std::string path = !args.path.empty()  ? args.path
                           : !url_path.empty() ? url_path
                                               : std::string(loadtest::kDefaultPath);
  // The URL with its path stripped: each body carries its own.
  options.url = "https://" +
                (url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host) +
                ":" + url->port;

  std::string body_source = "built-in Deployment pod CREATE";
  if (args.inputs.empty()) {
    auto body = loadtest::make_body_template(loadtest::default_review(), "built-in", path);
    if (!body) return usage(body.error().message);
    options.bodies.push_back(std::move(*body));
  } else {
    loadtest::BodySet set = loadtest::load_bodies(args.inputs, path);
    for (const auto& e : set.errors) std::fprintf(stderr, "revrouter loadtest: %s\n", e.c_str());
    if (!set.errors.empty()) return usage("fix or remove the unreadable inputs above");
    if (set.bodies.empty()) return usage("the inputs hold no AdmissionReviews or Pods");
    options.bodies = std::move(set.bodies);
    body_source = "recorded reviews";
  }

  if (args.print_body) {  // the first request's body, for other tools (bench/loadtest_vs_wrk.sh)
    const auto& b = options.bodies.front();
    const std::string body = b.prefix + loadtest::make_uid(0, 0) + b.suffix + "\n";
    std::fwrite(body.data(), 1, body.size(), stdout);
    return 0;
  }

  std::random_device random;
  options.run_id = (static_cast<std::uint64_t>(random()) << 32) ^ random();
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  bool printed_progress = false;
  if (!args.quiet) {
    options.progress = [&](const std::string& line) {
      std::fprintf(stderr, tty ? "\r%s" : "%s\n", line.c_str());
      std::fflush(stderr);
      printed_progress = true;
    };
  }
  g_stop.store(false);
  options.stop = &g_stop;
  std::signal(SIGPIPE, SIG_IGN);
  auto old_int = std::signal(SIGINT, on_stop_signal);
  auto old_term = std::signal(SIGTERM, on_stop_signal);
  auto ran = loadtest::run_load(options);
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  if (tty && printed_progress) std::fputc('\n', stderr);
  if (!ran) {
    std::fprintf(stderr, "revrouter loadtest: %s\n", ran.error().message.c_str());
    return ran.error().code == "usage" ? kExitUsage : kExitErrors;
  }
  loadtest::Report& report = *ran;
  const std::string& first_path = options.bodies.front().path;
  const bool one_path = std::all_of(options.bodies.begin(), options.bodies.end(),
                                    [&](const auto& b) { return b.path == first_path; });
  report.settings.url =
      one_path ? options.url + first_path + options.query : options.url + " (the inputs' paths)";
  report.settings.body_source = body_source;
  const std::string out = args.output == "json" ? loadtest::render_json(report).dump(2) + "\n"
                                                : loadtest::render_text(report);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  const bool clean = report.counters.error_total() == 0 && !report.hit_deadline &&
                     !report.interrupted && report.counters.issued == report.counters.completed;
  return clean ? 0 : kExitErrors;
}

}  // namespace

void add_loadtest_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<LoadtestArgs>();
  auto* cmd = app.add_subcommand(
      "loadtest",
      "HTTPS load generator for injection latency: closed loop (max throughput) or open loop "
      "(--rate, no coordinated omission); prints percentiles, achieved rate and errors by class");
  cmd->add_option("inputs", args->inputs,
                  "Recorded AdmissionReviews or Pods (files or directories, as replay reads "
                  "them); default: a built-in Deployment pod CREATE");
  cmd->add_option("--url", args->url, "The webhook, e.g. https://127.0.0.1:15017")->required();
  cmd->add_option("--ca", args->ca, "PEM CA bundle to verify --url (default: system trust store)");
  cmd->add_option("--server-name", args->server_name,
                  "Name to verify and send as SNI, e.g. revrouter.istio-system.svc (default: the "
                  "URL's host)");
  cmd->add_option("--cert", args->cert, "Client certificate (PEM) for mTLS");
  cmd->add_option("--key", args->key, "Client key (PEM) for --cert");
  cmd->add_option("-c,--connections", args->connections, "Kept-alive TLS connections")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "I/O threads sharing the connections")
      ->capture_default_str();
  cmd->add_flag("--busy-poll", args->busy_poll,
                "I/O threads poll without sleeping, each keeping a CPU busy: for latency at high "
                "rates on few cores, where waking a sleeping client costs more than its request");
  cmd->add_option("--rate", args->rate,
                  "Open loop: requests per second over all connections, latency measured from "
                  "each request's scheduled time (default: closed loop)");
  cmd->add_option("-d,--duration", args->duration,
                  "Send for this long, e.g. 30s (default 10s unless --count)");
  cmd->add_option("-n,--count", args->count,
                  "Send this many requests (with --duration: whichever "
                  "ends first)");
  cmd->add_option("--timeout", args->timeout,
                  "Per request, and sent as ?timeout= like kube-apiserver; also bounds connect "
                  "and handshake")
      ->capture_default_str();
  cmd->add_option("--deadline", args->deadline,
                  "Hard bound on the whole run (default: what the plan needs + timeout + 5s; "
                  "10m for a closed-loop --count)");
  cmd->add_option("--path", args->path,
                  "Webhook path for inputs that carry none (default: the URL's path, else "
                  "/inject/ns-injection/enabled)");
  cmd->add_option("--check", args->check,
                  "full: an answer is ok when it is HTTP 200 with a JSON AdmissionReview whose "
                  "response.uid is the request's and allowed is true; status: HTTP 200 is enough")
      ->capture_default_str();
  cmd->add_option("--output", args->output, "text (default) or json")->capture_default_str();
  cmd->add_flag("-q,--quiet", args->quiet, "No progress line on stderr");
  cmd->add_flag("--print-body", args->print_body,
                "Print the first request's body (with a fixed uid) and exit, sending nothing");
  cmd->callback([args, &exit_code] { exit_code = run_loadtest(*args); });
}

}  // namespace revrouter::tools
