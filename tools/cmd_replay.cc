// `revrouter replay`: runs recorded AdmissionReviews (or plain Pods) through the server's code path
// offline, or against a live webhook, and reports per request and in summary; `--what-if` compares
// two routing tables over the same inputs. A thin main over tools/replay*.h.
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admission/handler.h"
#include "admission/routing_config.h"
#include "tools/commands.h"
#include "tools/https_client.h"
#include "tools/replay.h"
#include "tools/replay_input.h"
#include "tools/replay_output.h"

namespace revrouter::tools {
namespace {

constexpr int kExitErrors = 1;   // some input or request failed (or was denied)
constexpr int kExitUsage = 2;    // bad arguments or routing table
constexpr int kExitChanged = 3;  // --fail-on-change and the what-if table changes some pod

struct ReplayArgs {
  std::vector<std::string> inputs;
  std::string config;
  std::string what_if;
  std::string url;
  std::string ca, server_name, cert, key;
  double timeout_seconds = 10;
  std::string namespace_;
  std::vector<std::string> namespace_labels;
  std::string path;
  std::string show = "ops";
  std::string output = "text";
  bool fail_on_change = false;
};

int usage(const std::string& message) {
  std::fprintf(stderr, "revrouter replay: %s\n", message.c_str());
  return kExitUsage;
}

replay::Run run_offline(const RoutingTable& table, const std::string& target,
                        const std::vector<replay::ReplayInput>& inputs) {
  replay::Run run;
  run.target = target;
  RequestScratch scratch;
  run.results.reserve(inputs.size());
  for (const auto& in : inputs) run.results.push_back(replay::run_offline(table, in, scratch));
  return run;
}

replay::Run run_live(HttpsClient& client, const std::string& target,
                     const std::vector<replay::ReplayInput>& inputs) {
  replay::Run run;
  run.target = target;
  run.results.reserve(inputs.size());
  for (const auto& in : inputs) {
    auto res = client.post(in.path, in.review);
    if (!res) {
      run.results.push_back(replay::transport_error(in, res.error()));
      continue;
    }
    run.results.push_back(replay::interpret_reply(
        in, replay::HttpReply{res->status, std::move(res->content_type), std::move(res->body)}));
  }
  return run;
}

int run_replay(const ReplayArgs& args) {
  auto show = replay::parse_show(args.show);
  if (!show) return usage(show.error().message);
  if (args.output != "text" && args.output != "json") {
    return usage("--output " + args.output + ": want text or json");
  }
  if (args.url.empty() && args.config.empty()) {
    return usage("give a routing table (--config FILE) or a live webhook (--url https://...)");
  }
  if (!args.url.empty() && !args.config.empty()) {
    return usage("--config replays offline, --url against a live webhook: give one");
  }
  if (!args.url.empty() && !args.what_if.empty()) {
    return usage("--what-if compares two routing tables offline; use it with --config, not --url");
  }
  if (args.fail_on_change && args.what_if.empty()) {
    return usage("--fail-on-change needs --what-if");
  }

  replay::InputOptions options;
  options.namespace_ = args.namespace_;
  for (const auto& text : args.namespace_labels) {
    auto label = replay::parse_namespace_label(text);
    if (!label) return usage(label.error().message);
    options.namespace_labels.push_back(std::move(*label));
  }
  std::unique_ptr<HttpsClient> client;
  std::string url_path;
  if (!args.url.empty()) {
    HttpsClientOptions copts;
    copts.url = args.url;
    copts.ca_file = args.ca;
    copts.server_name = args.server_name;
    copts.cert_file = args.cert;
    copts.key_file = args.key;
    copts.timeout = std::chrono::milliseconds(static_cast<long>(args.timeout_seconds * 1000));
    auto created = HttpsClient::create(copts);
    if (!created) return usage(created.error().message);
    client = std::move(*created);
    if (client->url().path != "/") url_path = client->url().path;
  }
  // The webhook path: --path, or the path of --url (as a webhook's clientConfig.url carries it).
  if (!args.path.empty() && !url_path.empty() && args.path != url_path) {
    return usage("--path " + args.path + " and the path of --url (" + url_path +
                 ") disagree; give one");
  }
  if (!args.path.empty()) options.path = args.path;
  if (!url_path.empty()) options.path = url_path;
  if (auto path = replay::webhook_path_for(options); !path) {
    return usage(path.error().message);
  }

  std::optional<RoutingTable> table, what_if_table;
  if (!args.config.empty()) {
    auto loaded = load_routing_table_file(args.config);
    if (!loaded) return usage("--config: " + loaded.error().message);
    table = std::move(*loaded);
  }
  if (!args.what_if.empty()) {
    auto loaded = load_routing_table_file(args.what_if);
    if (!loaded) return usage("--what-if: " + loaded.error().message);
    what_if_table = std::move(*loaded);
  }

  const replay::InputSet inputs = replay::read_inputs(args.inputs, options);
  if (inputs.inputs.empty() && inputs.errors.empty()) {
    std::fprintf(stderr, "revrouter replay: the inputs hold no AdmissionReviews or Pods\n");
    return kExitErrors;
  }

  replay::Run run = client ? run_live(*client, args.url, inputs.inputs)
                           : run_offline(*table, args.config, inputs.inputs);
  run.summary = replay::summarize(run.results, inputs.errors.size());
  replay::Run after;
  replay::WhatIf comparison;
  if (what_if_table) {
    after = run_offline(*what_if_table, args.what_if, inputs.inputs);
    after.summary = replay::summarize(after.results, inputs.errors.size());
    comparison = replay::compare(run.results, after.results);
  }

  replay::Report report;
  report.mode = client ? "live" : "offline";
  report.inputs = &inputs.inputs;
  report.input_errors = &inputs.errors;
  report.run = &run;
  report.show = *show;
  if (what_if_table) {
    report.what_if = &after;
    report.comparison = &comparison;
  }
  const std::string out = args.output == "json" ? replay::render_json(report).dump(2) + "\n"
                                                : replay::render_text(report);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);

  const auto failures = [](const replay::Summary& s) { return s.errors + s.denied; };
  if (!inputs.errors.empty() || failures(run.summary) > 0 ||
      (what_if_table && failures(after.summary) > 0)) {
    return kExitErrors;
  }
  if (args.fail_on_change && !comparison.changes.empty()) return kExitChanged;
  return 0;
}

}  // namespace

void add_replay_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ReplayArgs>();
  auto* cmd = app.add_subcommand(
      "replay",
      "Replay recorded AdmissionReviews or Pods through revrouter (offline or against --url) and "
      "report decision, revision, reason and patch per request; --what-if compares two tables");
  cmd->add_option("inputs", args->inputs,
                  "Files or directories: AdmissionReviews (.json, arrays, Lists), JSON lines "
                  "(.jsonl/.ndjson), Pods (.yaml/.yml/.json); - for stdin")
      ->required();
  cmd->add_option("--config", args->config, "Routing table to replay against, offline");
  cmd->add_option("--what-if", args->what_if,
                  "A second routing table: list the pods whose revision, decision or patch "
                  "would change from --config to this one");
  cmd->add_flag("--fail-on-change", args->fail_on_change,
                "With --what-if: exit 3 when any pod would change (for CI gates)");
  auto* url = cmd->add_option("--url", args->url,
                              "Send each review to a live webhook, e.g. https://127.0.0.1:8443");
  cmd->add_option("--ca", args->ca, "PEM CA bundle to verify --url (default: system trust store)")
      ->needs(url);
  cmd->add_option("--server-name", args->server_name,
                  "Name to verify and send as SNI, e.g. revrouter.istio-system.svc (default: the "
                  "URL's host)")
      ->needs(url);
  cmd->add_option("--cert", args->cert, "Client certificate (PEM) for mTLS to --url")->needs(url);
  cmd->add_option("--key", args->key, "Client key (PEM) for --cert")->needs(url);
  cmd->add_option("--timeout", args->timeout_seconds, "Seconds per network step with --url")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str()
      ->needs(url);
  cmd->add_option("--namespace", args->namespace_,
                  "Namespace of plain Pods (default: the pod's own, else default)");
  cmd->add_option("--namespace-label", args->namespace_labels,
                  "Namespace label for inputs without their own webhook path, e.g. "
                  "istio.io/rev=canary or istio-injection=enabled (repeatable)");
  cmd->add_option("--path", args->path,
                  "Webhook path for inputs that carry none (default /inject; see "
                  "admission/webhook_path.h)");
  cmd->add_option("--show", args->show, "Per request: none, ops (default), patch or diff")
      ->capture_default_str();
  cmd->add_option("--output", args->output, "text (default) or json")->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = run_replay(*args); });
}

}  // namespace revrouter::tools
