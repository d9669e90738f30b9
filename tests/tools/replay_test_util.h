// Helpers shared by the replay tests: routing tables built in the test from YAML text (templates
// read from the repo), AdmissionReviews and Pods built with nlohmann::json, a temporary directory.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "admission/routing_config.h"

namespace revrouter::replay::testing {

using ojson = nlohmann::ordered_json;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string example_template() {
  return read_file(std::string(REVROUTER_SOURCE_DIR) + "/config/templates/example-sidecar.yaml");
}

// A table from YAML text; every template path reads `template_text` (the example by default), and
// every *.pem path (a proxy revision's caFile) a PEM certificate block.
inline RoutingTable make_table(std::string_view yaml,
                               std::string template_text = example_template(),
                               std::string_view name = "test.yaml") {
  auto table = load_routing_table(
      yaml, name, [text = std::move(template_text)](const std::string& path) -> Result<std::string> {
        if (path.ends_with(".pem")) {
          return std::string("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        }
        return text;
      });
  if (!table) throw std::runtime_error(table.error().message);
  return std::move(table).value();
}

// Two revisions on the example template; `default` names `default_target`, `canary` 1-24-1, and
// `legacy` a proxy revision.
inline std::string table_yaml(std::string_view default_target) {
  return std::string(R"(mode: istio
defaultTag: default
revisions:
  1-23-3:
    backend: local
    template: templates/example-sidecar.yaml
  1-24-1:
    backend: local
    template: templates/example-sidecar.yaml
  1-22-6:
    backend: proxy
    caFile: ca.pem
tags:
  default: )") +
         std::string(default_target) + R"(
  canary: 1-24-1
  legacy: 1-22-6
)";
}

inline ojson pod(const std::string& generate_name, ojson labels = ojson::object()) {
  ojson p = ojson::object();
  p["apiVersion"] = "v1";
  p["kind"] = "Pod";
  p["metadata"] = {{"generateName", generate_name}, {"labels", std::move(labels)}};
  p["spec"] = {{"containers", ojson::array({{{"name", "app"}, {"image", "example/app:1.0"}}})}};
  return p;
}

inline ojson review(const std::string& uid, const std::string& ns, const ojson& object,
                    const std::string& operation = "CREATE") {
  ojson r = ojson::object();
  r["apiVersion"] = "admission.k8s.io/v1";
  r["kind"] = "AdmissionReview";
  r["request"] = {{"uid", uid},
                  {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                  {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
                  {"namespace", ns},
                  {"operation", operation},
                  {"object", object}};
  return r;
}

// A fresh directory under TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "revrouter-replay-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string write(const std::string& relative, const std::string& text) const {
    const auto p = path_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace revrouter::replay::testing
