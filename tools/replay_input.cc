#include "tools/replay_input.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "admission/webhook_path.h"

namespace revrouter::replay {
namespace {

using ojson = nlohmann::ordered_json;
namespace fs = std::filesystem;

constexpr std::string_view kInjectPrefix = "/inject";
constexpr std::string_view kWant =
    "want an AdmissionReview, a Pod, or a List or JSON array of them";

// 1-based line and column of byte `offset` in `text`.
std::string line_col(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

// nlohmann's parse error text starts with "[json.exception.parse_error.101] parse error at line
// 1, column 5: "; keep only what follows, the position is reported separately.
std::string parse_error_detail(const nlohmann::json::parse_error& e) {
  std::string_view what = e.what();
  if (const auto colon = what.find(": "); colon != std::string_view::npos) {
    what.remove_prefix(colon + 2);
  }
  return std::string(what);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string string_at(const ojson& obj, std::string_view key) {
  if (!obj.is_object()) return {};
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// ---- YAML to JSON (Kubernetes' YAML rules: sigs.k8s.io/yaml resolves YAML 1.1 scalars) ----------

bool one_of(std::string_view s, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

ojson plain_scalar(const std::string& s) {
  if (one_of(s, {"", "~", "null", "Null", "NULL"})) return nullptr;
  if (one_of(s, {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})) {
    return true;
  }
  if (one_of(s, {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})) {
    return false;
  }
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  std::int64_t i = 0;
  const char* digits = begin + (s.front() == '+' ? 1 : 0);
  if (auto [p, ec] = std::from_chars(digits, end, i); ec == std::errc() && p == end) return i;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    if (auto [p, ec] = std::from_chars(begin + 2, end, i, 16); ec == std::errc() && p == end) {
      return i;
    }
  }
  if (one_of(s, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
                 ".nan", ".NaN", ".NAN"})) {
    return s;  // JSON has no infinities; keep the text rather than invent a value
  }
  // A float needs a digit and a '.' or exponent; "1.2.3" or "100m" stay strings.
  if (s.find_first_of("0123456789") != std::string::npos &&
      s.find_first_of(".eE") != std::string::npos) {
    double d = 0;
    if (auto [p, ec] = std::from_chars(digits, end, d); ec == std::errc() && p == end) return d;
  }
  return s;
}

ojson yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      ojson obj = ojson::object();
      for (const auto& kv : node) obj[kv.first.Scalar()] = yaml_to_json(kv.second);
      return obj;
    }
    case YAML::NodeType::Sequence: {
      ojson arr = ojson::array();
      for (const auto& item : node) arr.push_back(yaml_to_json(item));
      return arr;
    }
    case YAML::NodeType::Scalar:
      // Quoted and block scalars carry the non-specific tag "!": always strings.
      return node.Tag() == "!" ? ojson(node.Scalar()) : plain_scalar(node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
  }
  return nullptr;
}

// ---- Records ------------------------------------------------------------------------------------

class Reader {
 public:
  Reader(const InputOptions& options, InputSet& out) : options_(options), out_(out) {
    auto path = webhook_path_for(options);
    if (path) {
      default_path_ = *path;
    } else {
      path_error_ = path.error().message;
    }
  }

  void error(const std::string& source, std::string message) {
    out_.errors.push_back(InputError{source, std::move(message)});
  }

  void record(ojson& value, const std::string& source, const std::string* own_path = nullptr) {
    if (value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        record(value[i], source + "[" + std::to_string(i) + "]", own_path);
      }
      return;
    }
    if (!value.is_object()) {
      error(source,
            std::string("a JSON ") + value.type_name() + " is not a record; " + std::string(kWant));
      return;
    }
    const std::string kind = string_at(value, "kind");
    if (kind.empty() && own_path == nullptr && value.contains("review")) {
      envelope(value, source);
      return;
    }
    if (kind == "AdmissionReview") {
      review(std::move(value), source, own_path);
    } else if (kind == "Pod") {
      pod(std::move(value), source, own_path);
    } else if (kind.ends_with("List") && value.contains("items")) {
      auto& items = value["items"];
      if (!items.is_array()) {
        error(source, kind + ".items is not an array");
        return;
      }
      for (std::size_t i = 0; i < items.size(); ++i) {
        record(items[i], source + "[" + std::to_string(i) + "]", own_path);
      }
    } else if (kind.empty()) {
      error(source, "the object has no \"kind\"; " + std::string(kWant));
    } else {
      error(source, "kind " + kind + " cannot be replayed; " + std::string(kWant));
    }
  }

 private:
  // {"path": "/inject/ns-rev/canary", "review": {...}}: a recording that kept its webhook path.
  void envelope(ojson& value, const std::string& source) {
    for (const auto& [key, _] : value.items()) {
      if (key != "path" && key != "review") {
        error(source, "unknown field \"" + key + "\" in a {\"path\", \"review\"} record");
        return;
      }
    }
    const auto path = value.find("path");
    if (path == value.end() || !path->is_string()) {
      error(source, "a {\"path\", \"review\"} record needs \"path\" as a string");
      return;
    }
    const std::string p = path->get<std::string>();
    if (auto parsed = parse_webhook_path(p); !parsed) {
      error(source, parsed.error().message);
      return;
    }
    ojson& inner = value["review"];
    if (string_at(inner, "kind") != "AdmissionReview" && string_at(inner, "kind") != "Pod") {
      error(source, "\"review\" is not an AdmissionReview or a Pod");
      return;
    }
    record(inner, source, &p);
  }

  bool resolve_path(const std::string& source, const std::string* own_path, std::string& out) {
    if (own_path != nullptr) {
      out = *own_path;
      return true;
    }
    if (!path_error_.empty()) {
      error(source, path_error_);
      return false;
    }
    out = default_path_;
    return true;
  }

  void review(ojson value, const std::string& source, const std::string* own_path) {
    ReplayInput in;
    in.source = source;
    if (!resolve_path(source, own_path, in.path)) return;
    if (const auto req = value.find("request"); req != value.end() && req->is_object()) {
      in.uid = string_at(*req, "uid");
      in.namespace_ = string_at(*req, "namespace");
      if (const auto obj = req->find("object"); obj != req->end() && obj->is_object()) {
        in.pod = *obj;
      }
      in.name = pod_name(in.pod);
      if (in.name.empty()) in.name = string_at(*req, "name");
    }
    // Sent as recorded: the server is the judge of a malformed review, replay only reports it.
    in.review = value.dump();
    out_.inputs.push_back(std::move(in));
  }

  void pod(ojson value, const std::string& source, const std::string* own_path) {
    ReplayInput in;
    in.source = source;
    if (!resolve_path(source, own_path, in.path)) return;
    if (!value.contains("metadata")) value["metadata"] = ojson::object();
    ojson& meta = value["metadata"];
    if (!meta.is_object()) {
      error(source, "the Pod's metadata is not an object");
      return;
    }
    std::string ns = options_.namespace_;
    if (ns.empty()) ns = string_at(meta, "namespace");
    if (ns.empty()) ns = "default";
    // The apiserver fills metadata.namespace from the request before admission.
    meta["namespace"] = ns;
    in.namespace_ = ns;
    in.name = pod_name(value);

    const ojson pod_kind = {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}};
    const ojson pods = {{"group", ""}, {"version", "v1"}, {"resource", "pods"}};
    ojson request = ojson::object();
    in.uid = "replay-" + std::to_string(++out_.wrapped_pods);
    request["uid"] = in.uid;
    request["kind"] = pod_kind;
    request["resource"] = pods;
    request["requestKind"] = pod_kind;
    request["requestResource"] = pods;
    if (const std::string name = string_at(meta, "name"); !name.empty()) request["name"] = name;
    request["namespace"] = ns;
    request["operation"] = "CREATE";
    request["userInfo"] = {{"username", "revrouter-replay"}};
    request["object"] = value;
    request["oldObject"] = nullptr;
    request["dryRun"] = false;
    request["options"] = {{"apiVersion", "meta.k8s.io/v1"}, {"kind", "CreateOptions"}};
    ojson review = ojson::object();
    review["apiVersion"] = "admission.k8s.io/v1";
    review["kind"] = "AdmissionReview";
    review["request"] = std::move(request);
    in.review = review.dump();
    in.pod = std::move(value);
    out_.inputs.push_back(std::move(in));
  }

  static std::string pod_name(const ojson& pod) {
    if (!pod.is_object()) return {};
    const auto meta = pod.find("metadata");
    if (meta == pod.end()) return {};
    std::string name = string_at(*meta, "name");
    return name.empty() ? string_at(*meta, "generateName") : name;
  }

  const InputOptions& options_;
  InputSet& out_;
  std::string default_path_;
  std::string path_error_;
};

void read_json(std::string_view text, const std::string& source, Reader& reader) {
  ojson value;
  try {
    value = ojson::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    reader.error(source + ":" + line_col(text, e.byte == 0 ? 0 : e.byte - 1),
                 "not JSON: " + parse_error_detail(e));
    return;
  }
  reader.record(value, source);
}

void read_json_lines(std::string_view text, const std::string& source, Reader& reader) {
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t eol = text.find('\n');
    const std::string_view line = trim(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty()) continue;
    const std::string where = source + ":" + std::to_string(line_no);
    ojson value;
    try {
      value = ojson::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      reader.error(where, "not JSON: " + parse_error_detail(e));
      continue;
    }
    reader.record(value, where);
  }
}

void read_yaml(std::string_view text, const std::string& source, Reader& reader) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    reader.error(source + ":" + std::to_string(e.mark.line + 1), "not YAML: " + e.msg);
    return;
  }
  for (const auto& doc : docs) {
    if (doc.IsNull()) continue;  // an empty document, e.g. after a trailing "---"
    ojson value = yaml_to_json(doc);
    reader.record(value, source + ":" + std::to_string(doc.Mark().line + 1));
  }
}

// An unknown extension: JSON when it starts like JSON (lines when the first line is a whole
// document and more follows), else YAML.
Format sniff(std::string_view text) {
  const std::string_view t = trim(text);
  if (t.empty() || (t.front() != '{' && t.front() != '[')) return Format::kYaml;
  const std::size_t eol = t.find('\n');
  if (eol == std::string_view::npos) return Format::kJson;
  if (!ojson::accept(t.substr(0, eol))) return Format::kJson;
  return trim(t.substr(eol)).empty() ? Format::kJson : Format::kJsonLines;
}

Result<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    const bool exists = fs::exists(path, ec);
    return make_error("input", exists ? "cannot open the file" : "no such file or directory");
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return make_error("input", "read error");
  return text;
}

bool known_extension(const fs::path& p) {
  return format_of(p.filename().string()) != Format::kAuto;
}

}  // namespace

Result<std::pair<std::string, std::string>> parse_namespace_label(std::string_view text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return make_error("usage", "--namespace-label \"" + std::string(text) +
                                   "\": want key=value, e.g. istio.io/rev=canary");
  }
  std::string key(text.substr(0, eq));
  std::string value(text.substr(eq + 1));
  if (key != "istio.io/rev" && key != "istio-injection") {
    return make_error("usage", "--namespace-label " + key +
                                   ": only istio.io/rev and istio-injection select Istio's "
                                   "webhooks; other namespace labels do not reach the injector");
  }
  if (value.empty() || value.find('/') != std::string::npos) {
    return make_error("usage", "--namespace-label " + key + "=" + value +
                                   ": the value must be non-empty and contain no '/'");
  }
  return std::pair{std::move(key), std::move(value)};
}

Result<std::string> webhook_path_for(const InputOptions& options) {
  std::string path = options.path.empty() ? std::string(kInjectPrefix) : options.path;
  std::string segments;
  for (const char* key : {"istio.io/rev", "istio-injection"}) {
    for (const auto& [k, v] : options.namespace_labels) {
      if (k != key) continue;
      segments.append(k == "istio.io/rev" ? "/ns-rev/" : "/ns-injection/").append(v);
    }
  }
  if (!segments.empty() && path.starts_with(kInjectPrefix)) {
    path.insert(kInjectPrefix.size(), segments);
  }
  if (auto parsed = parse_webhook_path(path); !parsed) return parsed.error();
  return path;
}

Format format_of(std::string_view file_name) {
  const auto ends = [&](std::string_view ext) { return file_name.ends_with(ext); };
  if (ends(".json")) return Format::kJson;
  if (ends(".jsonl") || ends(".ndjson")) return Format::kJsonLines;
  if (ends(".yaml") || ends(".yml")) return Format::kYaml;
  return Format::kAuto;
}

void read_text(std::string_view text, const std::string& source, Format format,
               const InputOptions& options, InputSet& out) {
  Reader reader(options, out);
  if (format == Format::kAuto) format = sniff(text);
  switch (format) {
    case Format::kJson:
      read_json(text, source, reader);
      break;
    case Format::kJsonLines:
      read_json_lines(text, source, reader);
      break;
    case Format::kYaml:
    case Format::kAuto:
      read_yaml(text, source, reader);
      break;
  }
}

InputSet read_inputs(const std::vector<std::string>& paths, const InputOptions& options) {
  InputSet out;
  for (const auto& arg : paths) {
    if (arg == "-") {
      std::string text;
      char buf[64 * 1024];
      for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) text.append(buf, n);
      read_text(text, "<stdin>", Format::kAuto, options, out);
      continue;
    }
    const fs::path root(arg);
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_directory(root, ec)) {
      for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file(ec) && known_extension(it->path())) files.push_back(it->path());
      }
      if (ec) {
        out.errors.push_back({arg, "cannot list the directory: " + ec.message()});
        continue;
      }
      if (files.empty()) {
        out.errors.push_back(
            {arg, "no .json, .jsonl, .ndjson, .yaml or .yml files in the directory"});
        continue;
      }
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(root);
    }
    for (const auto& file : files) {
      const std::string name = file.string();
      auto text = read_file(file);
      if (!text) {
        out.errors.push_back({name, text.error().message});
        continue;
      }
      read_text(*text, name, format_of(name), options, out);
    }
  }
  return out;
}

}  // namespace revrouter::replay
