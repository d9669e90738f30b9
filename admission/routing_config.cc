// Loads and validates the routing table from YAML (format: docs/config.md). Every map the format
// has is parsed from one table of its known keys (a KeyRule per key), so a new setting is one row
// and unknown or repeated keys are reported the same way everywhere.
#include "admission/routing_config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "admission/sidecar_template.h"

namespace revrouter {

const Revision* RoutingTable::find_revision(std::string_view name) const {
  for (const Revision& r : revisions) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

const Tag* RoutingTable::find_tag(std::string_view name) const {
  for (const Tag& t : tags) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {

using YAML::Node;

constexpr std::string_view kDefaultProxyUrlPrefix = "https://istiod-";
constexpr std::string_view kDefaultProxyUrlSuffix = ".istio-system.svc:443/inject";

// yaml-cpp marks are 0-based; messages use 1-based lines. A node without a mark (an empty
// document) is reported on line 1.
int line_of(const Node& n) { return n.Mark().line < 0 ? 1 : n.Mark().line + 1; }

// The line of a map value, or of its key when the value is empty: yaml-cpp marks an empty value
// (`key:` and nothing else) at the token after it, which may be several lines further down.
int value_line(const Node& key, const Node& value) {
  return value.IsNull() || value.Mark().line < 0 ? line_of(key) : line_of(value);
}

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

std::string_view type_name(const Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Undefined:
      break;
  }
  return "an undefined node";
}

template <class Names>
std::string join(const Names& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out.empty() ? "(none)" : out;
}

// Kubernetes label value syntax: at most 63 characters, empty or alphanumerics with '-', '_', '.'
// in between. Revision and tag names are istio.io/rev values, so they must be label values.
bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_label_value(std::string_view v) {
  if (v.empty()) return true;
  if (v.size() > 63 || !is_alnum(v.front()) || !is_alnum(v.back())) return false;
  for (char c : v) {
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// RFC 1123 label (lowercase alphanumerics and '-'), what a Service name segment must be.
bool is_dns_label(std::string_view v) {
  if (v.empty() || v.size() > 63) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!ok(v.front()) || !ok(v.back())) return false;
  for (char c : v) {
    if (!ok(c) && c != '-') return false;
  }
  return true;
}

// RFC 1123 subdomain: dot-separated lowercase labels, at most 253 characters.
bool is_dns_subdomain(std::string_view v) {
  if (v.empty() || v.size() > 253) return false;
  while (true) {
    std::size_t dot = v.find('.');
    if (!is_dns_label(v.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    v.remove_prefix(dot + 1);
  }
}

// Kubernetes label key: an optional DNS-subdomain prefix and '/', then a non-empty name with the
// label value syntax.
bool is_label_key(std::string_view k) {
  std::size_t slash = k.find('/');
  std::string_view name = k;
  if (slash != std::string_view::npos) {
    if (!is_dns_subdomain(k.substr(0, slash))) return false;
    name = k.substr(slash + 1);
  }
  return !name.empty() && is_label_value(name);
}

constexpr std::string_view kLabelValueRule =
    "at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter "
    "or digit";

// Where the loader is: the file name for messages.
struct Ctx {
  std::string_view file;

  Error error(int line, std::string_view what) const {
    std::string msg;
    msg.reserve(file.size() + what.size() + 16);
    msg += file;
    msg += ':';
    msg += std::to_string(line);
    msg += ": ";
    msg += what;
    return make_error("config", std::move(msg));
  }
};

// One entry of a map: its key (always a scalar) and value.
struct Entry {
  const Node& key;
  const Node& value;
  const std::string& name;  // the key's text

  int key_line() const { return line_of(key); }
  int line() const { return value_line(key, value); }
};

// Walks the entries of `map` (`what` names it in messages; an empty value is an empty map),
// rejecting non-scalar keys and keys that appear twice (yaml-cpp 0.7 keeps both), and calls
// fn(entry) -> Status for each. `noun` is what a key is ("key", "revision", "tag", ...).
template <class Fn>
Status for_each_entry(const Ctx& ctx, const Node& map, int map_line, std::string_view what,
                      std::string_view noun, Fn&& fn) {
  if (map.IsNull()) return Ok{};
  if (!map.IsMap()) {
    return ctx.error(map_line,
                     std::string(what) + " must be a map, got " + std::string(type_name(map)));
  }
  std::map<std::string, int, std::less<>> seen;  // name -> line of its first occurrence
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies: the pair behind `it->` is a temporary; Nodes are handles, cheap to copy.
    const Node key = it->first;
    const Node value = it->second;
    if (!key.IsScalar()) {
      return ctx.error(line_of(key), "the keys of " + std::string(what) + " must be strings, got " +
                                         std::string(type_name(key)));
    }
    const std::string& name = key.Scalar();
    auto [first, inserted] = seen.emplace(name, line_of(key));
    if (!inserted) {
      std::string msg = "duplicate " + std::string(noun) + " " + quoted(name);
      if (noun == "key") msg += " in " + std::string(what);
      msg += " (first at line " + std::to_string(first->second) + ")";
      return ctx.error(line_of(key), msg);
    }
    Status s = fn(Entry{key, value, name});
    if (!s) return s;
  }
  return Ok{};
}

// One row per key a map accepts: the key and how to parse its value.
struct KeyRule {
  std::string_view key;
  std::function<Status(const Entry&)> parse;
};

// Parses a map with a fixed set of keys; an unknown key is an error naming the allowed ones.
Status parse_keys(const Ctx& ctx, const Node& map, int map_line, std::string_view what,
                  std::initializer_list<KeyRule> rules) {
  return for_each_entry(ctx, map, map_line, what, "key", [&](const Entry& e) -> Status {
    for (const KeyRule& rule : rules) {
      if (rule.key == e.name) return rule.parse(e);
    }
    std::string allowed;
    for (const KeyRule& rule : rules) {
      if (!allowed.empty()) allowed += ", ";
      allowed += rule.key;
    }
    return ctx.error(e.key_line(), "unknown key " + quoted(e.name) + " in " + std::string(what) +
                                       "; allowed keys: " + allowed);
  });
}

// A non-empty scalar. `what` names the value in messages.
Result<std::string> string_value(const Ctx& ctx, const Node& value, int line,
                                 std::string_view what) {
  if (!value.IsScalar()) {
    return ctx.error(line,
                     std::string(what) + " must be a string, got " + std::string(type_name(value)));
  }
  if (value.Scalar().empty()) return ctx.error(line, std::string(what) + " must not be empty");
  return value.Scalar();
}

Result<std::string> string_value(const Ctx& ctx, const Entry& e, std::string_view what) {
  return string_value(ctx, e.value, e.line(), what);
}

// A plain (unquoted) YAML 1.2 boolean. yaml-cpp would also take y/yes/on; a typo'd or quoted value
// is more likely a mistake than a choice, so only true/false are accepted.
Result<bool> bool_value(const Ctx& ctx, const Entry& e, std::string_view what) {
  if (e.value.IsScalar() && e.value.Tag() != "!") {
    const std::string& s = e.value.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  std::string got = e.value.IsScalar() ? quoted(e.value.Scalar()) : std::string(type_name(e.value));
  return ctx.error(e.line(), std::string(what) + " must be true or false, got " + got);
}

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

template <class E>
Result<E> enum_value(const Ctx& ctx, const Entry& e, std::string_view what,
                     std::initializer_list<EnumName<E>> names) {
  Result<std::string> s = string_value(ctx, e, what);
  if (!s) return s.error();
  std::string allowed;
  for (const EnumName<E>& n : names) {
    if (n.name == *s) return n.value;
    if (!allowed.empty()) allowed += ", ";
    allowed += n.name;
  }
  return ctx.error(e.line(),
                   "unknown " + std::string(what) + " " + quoted(*s) + "; allowed: " + allowed);
}

// A plain YAML integer ([-+]?[0-9]+) in [lo, hi].
Result<std::uint32_t> int_value(const Ctx& ctx, const Entry& e, std::string_view what, int lo,
                                int hi) {
  std::string range = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  if (!e.value.IsScalar() || e.value.Tag() == "!") {
    std::string got = e.value.IsScalar() ? "the string " + quoted(e.value.Scalar())
                                         : std::string(type_name(e.value));
    return ctx.error(e.line(), std::string(what) + " must be " + range + ", got " + got);
  }
  std::string_view s = e.value.Scalar();
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  // At most 9 digits: enough for any sane value, and no overflow.
  bool digits = !s.empty() && s.size() <= 9;
  long long v = 0;
  for (char c : s) {
    if (!digits || c < '0' || c > '9') {
      digits = false;
      break;
    }
    v = v * 10 + (c - '0');
  }
  if (negative) v = -v;
  if (!digits || v < lo || v > hi) {
    return ctx.error(e.line(),
                     std::string(what) + " must be " + range + ", got " + quoted(e.value.Scalar()));
  }
  return static_cast<std::uint32_t>(v);
}

// A string list (an empty value is an empty list).
Status string_list(const Ctx& ctx, const Entry& e, std::string_view what,
                   std::vector<std::pair<std::string, int>>& out) {
  if (e.value.IsNull()) return Ok{};
  if (!e.value.IsSequence()) {
    return ctx.error(e.line(), std::string(what) + " must be a list of strings, got " +
                                   std::string(type_name(e.value)));
  }
  for (const Node& item : e.value) {
    if (!item.IsScalar()) {
      return ctx.error(line_of(item), "each of " + std::string(what) + " must be a string, got " +
                                          std::string(type_name(item)));
    }
    out.emplace_back(item.Scalar(), line_of(item));
  }
  return Ok{};
}

// matchExpressions entry: {key, operator, values}, validated as Kubernetes' LabelSelectorAsSelector
// does (so a selector Istio would reject at start-up is rejected here too).
Status parse_requirement(const Ctx& ctx, const Node& node, std::string_view what,
                         LabelRequirement& req) {
  int line = line_of(node);
  std::optional<std::string> key;
  std::optional<LabelRequirement::Op> op;
  std::string op_name;
  int op_line = line;
  int values_line = line;
  std::vector<std::pair<std::string, int>> values;
  if (!node.IsMap()) {
    return ctx.error(line, "each of " + std::string(what) + " must be a map, got " +
                               std::string(type_name(node)));
  }
  Status s =
      parse_keys(ctx, node, line, what,
                 {
                     {"key",
                      [&](const Entry& e) -> Status {
                        auto v = string_value(ctx, e, "\"key\"");
                        if (!v) return v.error();
                        if (!is_label_key(*v)) {
                          return ctx.error(e.line(), "label key " + quoted(*v) +
                                                         " is not a valid Kubernetes label key");
                        }
                        key = std::move(*v);
                        return Ok{};
                      }},
                     {"operator",
                      [&](const Entry& e) -> Status {
                        auto v = enum_value<LabelRequirement::Op>(
                            ctx, e, "operator",
                            {{"In", LabelRequirement::Op::kIn},
                             {"NotIn", LabelRequirement::Op::kNotIn},
                             {"Exists", LabelRequirement::Op::kExists},
                             {"DoesNotExist", LabelRequirement::Op::kDoesNotExist}});
                        if (!v) return v.error();
                        op = *v;
                        op_name = e.value.Scalar();
                        op_line = e.line();
                        return Ok{};
                      }},
                     {"values",
                      [&](const Entry& e) -> Status {
                        values_line = e.line();
                        return string_list(ctx, e, "\"values\"", values);
                      }},
                 });
  if (!s) return s;
  if (!key) return ctx.error(line, "a matchExpressions entry needs \"key\"");
  if (!op) return ctx.error(line, "a matchExpressions entry needs \"operator\"");
  bool set_op = *op == LabelRequirement::Op::kIn || *op == LabelRequirement::Op::kNotIn;
  if (set_op && values.empty()) {
    return ctx.error(op_line, "operator " + op_name + " on " + quoted(*key) +
                                  " needs at least one value in \"values\"");
  }
  if (!set_op && !values.empty()) {
    return ctx.error(values_line,
                     "operator " + op_name + " on " + quoted(*key) + " takes no \"values\"");
  }
  for (const auto& [v, v_line] : values) {
    if (!is_label_value(v)) {
      return ctx.error(v_line, "label value " + quoted(v) +
                                   " is not a valid Kubernetes label value (" +
                                   std::string(kLabelValueRule) + ")");
    }
  }
  req.key = std::move(*key);
  req.op = *op;
  for (auto& [v, v_line] : values) req.values.push_back(std::move(v));
  return Ok{};
}

// A Kubernetes LabelSelector: {matchLabels: {k: v}, matchExpressions: [...]}.
Status parse_selector(const Ctx& ctx, const Node& node, std::string_view what, LabelSelector& sel) {
  int line = line_of(node);
  if (!node.IsMap()) {
    return ctx.error(line, "each of " + std::string(what) +
                               " must be a label selector map (matchLabels, matchExpressions), "
                               "got " +
                               std::string(type_name(node)));
  }
  return parse_keys(
      ctx, node, line, what,
      {
          {"matchLabels",
           [&](const Entry& ml) -> Status {
             return for_each_entry(
                 ctx, ml.value, ml.line(), "matchLabels", "label", [&](const Entry& e) -> Status {
                   if (!is_label_key(e.name)) {
                     return ctx.error(e.key_line(), "label key " + quoted(e.name) +
                                                        " is not a valid Kubernetes label key");
                   }
                   if (!e.value.IsScalar()) {
                     return ctx.error(e.line(), "matchLabels value of " + quoted(e.name) +
                                                    " must be a string, got " +
                                                    std::string(type_name(e.value)));
                   }
                   if (!is_label_value(e.value.Scalar())) {
                     return ctx.error(e.line(), "label value " + quoted(e.value.Scalar()) +
                                                    " is not a valid Kubernetes label value (" +
                                                    std::string(kLabelValueRule) + ")");
                   }
                   sel.requirements.push_back(
                       {e.name, LabelRequirement::Op::kIn, {e.value.Scalar()}});
                   return Ok{};
                 });
           }},
          {"matchExpressions",
           [&](const Entry& me) -> Status {
             if (me.value.IsNull()) return Ok{};
             if (!me.value.IsSequence()) {
               return ctx.error(me.line(), "matchExpressions must be a list, got " +
                                               std::string(type_name(me.value)));
             }
             for (const Node& item : me.value) {
               LabelRequirement req;
               Status s = parse_requirement(ctx, item, "matchExpressions", req);
               if (!s) return s;
               sel.requirements.push_back(std::move(req));
             }
             return Ok{};
           }},
      });
}

Status parse_selectors(const Ctx& ctx, const Entry& e, std::vector<LabelSelector>& out) {
  if (e.value.IsNull()) return Ok{};
  if (!e.value.IsSequence()) {
    return ctx.error(e.line(), e.name + " must be a list of label selectors, got " +
                                   std::string(type_name(e.value)));
  }
  for (const Node& item : e.value) {
    LabelSelector sel;
    Status s = parse_selector(ctx, item, e.name, sel);
    if (!s) return s;
    out.push_back(std::move(sel));
  }
  return Ok{};
}

Status parse_injector(const Ctx& ctx, const Entry& e, const std::string& what,
                      InjectorConfig& cfg) {
  return parse_keys(
      ctx, e.value, e.line(), what,
      {
          {"policy",
           [&](const Entry& p) -> Status {
             auto v = enum_value<InjectPolicy>(
                 ctx, p, "policy",
                 {{"enabled", InjectPolicy::kEnabled}, {"disabled", InjectPolicy::kDisabled}});
             if (!v) return v.error();
             cfg.policy = *v;
             return Ok{};
           }},
          {"lenientInjectValues",
           [&](const Entry& p) -> Status {
             auto v = bool_value(ctx, p, "lenientInjectValues");
             if (!v) return v.error();
             cfg.lenient_inject_values = *v;
             return Ok{};
           }},
          {"neverInjectSelector",
           [&](const Entry& p) { return parse_selectors(ctx, p, cfg.never_inject_selector); }},
          {"alwaysInjectSelector",
           [&](const Entry& p) { return parse_selectors(ctx, p, cfg.always_inject_selector); }},
      });
}

// A revision while loading: the lines of keys checked after the whole map is read.
struct RevisionDraft {
  Revision rev;
  int template_line = 0;  // 0 when absent
  int url_line = 0;
};

Status parse_revision(const Ctx& ctx, const Entry& e, RevisionDraft& d) {
  d.rev.name = e.name;
  d.rev.line = e.key_line();
  if (d.rev.name.empty() || !is_label_value(d.rev.name)) {
    return ctx.error(e.key_line(), "revision name " + quoted(e.name) +
                                       " is not a valid Kubernetes label value (" +
                                       std::string(kLabelValueRule) + ")");
  }
  const std::string what = "revision " + quoted(e.name);
  Status s = parse_keys(ctx, e.value, e.line(), what,
                        {
                            {"backend",
                             [&](const Entry& k) -> Status {
                               auto v = enum_value<Backend>(
                                   ctx, k, "backend",
                                   {{"local", Backend::kLocal}, {"proxy", Backend::kProxy}});
                               if (!v) return v.error();
                               d.rev.backend = *v;
                               return Ok{};
                             }},
                            {"template",
                             [&](const Entry& k) -> Status {
                               auto v = string_value(ctx, k, "template of " + what);
                               if (!v) return v.error();
                               d.rev.template_path = std::move(*v);
                               d.template_line = k.line();
                               return Ok{};
                             }},
                            {"url",
                             [&](const Entry& k) -> Status {
                               auto v = string_value(ctx, k, "url of " + what);
                               if (!v) return v.error();
                               d.rev.url = std::move(*v);
                               d.url_line = k.line();
                               return Ok{};
                             }},
                            {"injector",
                             [&](const Entry& k) {
                               return parse_injector(ctx, k, "injector of " + what, d.rev.injector);
                             }},
                        });
  if (!s) return s;

  if (d.rev.backend == Backend::kLocal) {
    if (d.template_line == 0) {
      return ctx.error(d.rev.line, what + " has backend local but no \"template\"");
    }
    if (d.url_line != 0) {
      return ctx.error(d.url_line, "\"url\" is only for backend proxy; " + what + " is local");
    }
    return Ok{};
  }
  if (d.template_line != 0) {
    return ctx.error(d.template_line,
                     "\"template\" is only for backend local; " + what + " is proxy");
  }
  if (d.url_line == 0) {
    // Istio's per-revision Service is istiod-<revision>; that only works for DNS-label names.
    if (!is_dns_label(d.rev.name)) {
      return ctx.error(d.rev.line, what + " is not a valid DNS label, so there is no default " +
                                       "istiod-" + d.rev.name + " Service; give \"url\"");
    }
    d.rev.url =
        std::string(kDefaultProxyUrlPrefix) + d.rev.name + std::string(kDefaultProxyUrlSuffix);
    return Ok{};
  }
  std::string_view url = d.rev.url;
  constexpr std::string_view kHttps = "https://";
  if (url.substr(0, kHttps.size()) != kHttps || url.size() == kHttps.size() ||
      url[kHttps.size()] == '/' || url[kHttps.size()] == ':') {
    return ctx.error(d.url_line,
                     "url of " + what + " must be an https:// URL with a host, got " + quoted(url));
  }
  return Ok{};
}

// A tag while loading: the targets by name, resolved once every revision is known.
struct TagDraft {
  std::string name;
  int line = 0;
  struct Target {
    std::string revision;
    int line = 0;
    std::uint32_t weight = 100;
  };
  std::vector<Target> targets;
};

Status parse_tag(const Ctx& ctx, const Entry& e, TagDraft& t) {
  t.name = e.name;
  t.line = e.key_line();
  if (t.name.empty() || !is_label_value(t.name)) {
    return ctx.error(e.key_line(), "tag name " + quoted(e.name) +
                                       " is not a valid Kubernetes label value (" +
                                       std::string(kLabelValueRule) + ")");
  }
  const std::string what = "tag " + quoted(t.name);
  std::string empty = what +
                      " is empty; give a revision name (an alias) or a {revision: weight} "
                      "map (a split)";
  if (e.value.IsNull() || (e.value.IsScalar() && e.value.Scalar().empty()) ||
      (e.value.IsMap() && e.value.size() == 0)) {
    return ctx.error(e.line(), empty);
  }
  if (e.value.IsScalar()) {
    t.targets.push_back({e.value.Scalar(), e.line(), 100});
    return Ok{};
  }
  if (!e.value.IsMap()) {
    return ctx.error(e.line(), what + " must be a revision name or a {revision: weight} map, got " +
                                   std::string(type_name(e.value)));
  }
  return for_each_entry(ctx, e.value, e.line(), what, "revision", [&](const Entry& w) -> Status {
    auto weight = int_value(ctx, w, "weight of " + quoted(w.name) + " in " + what, 0, 100);
    if (!weight) return weight.error();
    t.targets.push_back({w.name, w.key_line(), *weight});
    return Ok{};
  });
}

std::string dir_of(std::string_view file) {
  std::size_t slash = file.rfind('/');
  if (slash == std::string_view::npos) return {};
  if (slash == 0) return "/";
  return std::string(file.substr(0, slash));
}

std::string resolve_path(const std::string& dir, const std::string& path) {
  if (dir.empty() || path.front() == '/') return path;
  if (dir.back() == '/') return dir + path;
  return dir + "/" + path;
}

Result<RoutingTable> load(const Ctx& ctx, const Node& root, const FileReader& read_file) {
  RoutingTable table;
  table.source = std::string(ctx.file);
  if (root.IsNull()) {
    return ctx.error(line_of(root),
                     "the configuration is empty; expected a map with at least "
                     "\"revisions\"");
  }
  std::vector<RevisionDraft> revisions;
  std::vector<TagDraft> tags;
  int revisions_line = 0;
  int default_tag_line = 0;  // 0 when not given explicitly

  Status s = parse_keys(
      ctx, root, line_of(root), "the top level",
      {
          {"mode",
           [&](const Entry& e) -> Status {
             auto v = enum_value<PrecedenceMode>(ctx, e, "mode",
                                                 {{"istio", PrecedenceMode::kIstio},
                                                  {"pod-override", PrecedenceMode::kPodOverride}});
             if (!v) return v.error();
             table.mode = *v;
             return Ok{};
           }},
          {"defaultTag",
           [&](const Entry& e) -> Status {
             auto v = string_value(ctx, e, "defaultTag");
             if (!v) return v.error();
             table.default_tag = std::move(*v);
             default_tag_line = e.line();
             return Ok{};
           }},
          {"revisions",
           [&](const Entry& e) -> Status {
             revisions_line = e.key_line();
             return for_each_entry(ctx, e.value, e.line(), "revisions", "revision",
                                   [&](const Entry& r) {
                                     revisions.emplace_back();
                                     return parse_revision(ctx, r, revisions.back());
                                   });
           }},
          {"tags",
           [&](const Entry& e) -> Status {
             return for_each_entry(ctx, e.value, e.line(), "tags", "tag", [&](const Entry& t) {
               tags.emplace_back();
               return parse_tag(ctx, t, tags.back());
             });
           }},
      });
  if (!s) return s.error();
  if (revisions.empty()) {
    return ctx.error(revisions_line != 0 ? revisions_line : line_of(root),
                     "no revisions defined; \"revisions\" needs at least one");
  }
  for (RevisionDraft& d : revisions) table.revisions.push_back(std::move(d.rev));

  auto revision_names = [&] {
    std::vector<std::string_view> names;
    for (const Revision& r : table.revisions) names.push_back(r.name);
    return join(names);
  };
  for (TagDraft& d : tags) {
    if (const Revision* r = table.find_revision(d.name)) {
      return ctx.error(d.line, "tag " + quoted(d.name) +
                                   " has the name of the revision defined at "
                                   "line " +
                                   std::to_string(r->line) +
                                   "; a name is either a tag or a revision");
    }
    Tag tag;
    tag.name = d.name;
    tag.line = d.line;
    std::uint32_t sum = 0;
    for (const TagDraft::Target& t : d.targets) {
      const Revision* r = table.find_revision(t.revision);
      if (r == nullptr) {
        for (const TagDraft& other : tags) {
          if (other.name == t.revision) {
            return ctx.error(t.line, "tag " + quoted(d.name) + " points to tag " +
                                         quoted(t.revision) + "; tags must point to revisions");
          }
        }
        return ctx.error(t.line, "tag " + quoted(d.name) + " names unknown revision " +
                                     quoted(t.revision) + "; revisions: " + revision_names());
      }
      tag.targets.push_back({static_cast<std::size_t>(r - table.revisions.data()), t.weight});
      sum += t.weight;
    }
    if (sum != 100) {
      return ctx.error(d.line, "the weights of tag " + quoted(d.name) + " sum to " +
                                   std::to_string(sum) + "; they must sum to 100");
    }
    table.tags.push_back(std::move(tag));
  }

  if (default_tag_line != 0 && table.find_tag(table.default_tag) == nullptr &&
      table.find_revision(table.default_tag) == nullptr) {
    std::vector<std::string_view> tag_names;
    for (const Tag& t : table.tags) tag_names.push_back(t.name);
    return ctx.error(default_tag_line, "defaultTag " + quoted(table.default_tag) +
                                           " names neither a tag nor a revision; tags: " +
                                           join(tag_names) + "; revisions: " + revision_names());
  }

  // Templates last, so a config error is reported before any file is touched. Revisions that name
  // the same file share one loaded template.
  const std::string dir = dir_of(ctx.file);
  std::map<std::string, std::shared_ptr<const SidecarTemplate>, std::less<>> loaded;
  for (std::size_t i = 0; i < table.revisions.size(); ++i) {
    Revision& rev = table.revisions[i];
    if (rev.backend != Backend::kLocal) continue;
    rev.template_path = resolve_path(dir, rev.template_path);
    if (auto it = loaded.find(rev.template_path); it != loaded.end()) {
      rev.sidecar = it->second;
      continue;
    }
    const int line = revisions[i].template_line;
    if (!read_file) {
      return ctx.error(line,
                       "revision " + quoted(rev.name) + ": no file reader to load its template");
    }
    Result<std::string> text = read_file(rev.template_path);
    if (!text) {
      return ctx.error(line, "template of revision " + quoted(rev.name) +
                                 " cannot be loaded: " + text.error().message);
    }
    auto tpl = load_sidecar_template(*text, rev.template_path);
    if (!tpl) return tpl.error();  // "<template file>:<line>: ..." already
    rev.sidecar = *tpl;
    loaded.emplace(rev.template_path, rev.sidecar);
  }
  return table;
}

Result<std::string> read_whole_file(const std::string& path) {
  auto cannot = [&](int err) {
    return make_error("config", path + ": cannot read: " + std::strerror(err));
  };
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return cannot(errno);
  std::string out;
  char buf[16384];
  while (true) {
    std::size_t n = std::fread(buf, 1, sizeof buf, f);
    out.append(buf, n);
    if (n < sizeof buf) break;
  }
  int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (err != 0) return cannot(err);
  return out;
}

// yaml-cpp 0.7's LoadAll never returns on some invalid text (a stray ',' at the top level: ",a"),
// allocating a null document per turn until memory runs out (jbeder/yaml-cpp#1040, fixed upstream
// by #1319). This walks the documents' events first and reports where a document starts at the
// same place as the one before it, i.e. where the parser stopped making progress.
class DocumentStarts : public YAML::EventHandler {
 public:
  int last_pos = 0;
  int last_line = 0;
  bool stalled = false;
  bool any = false;
  void OnDocumentStart(const YAML::Mark& m) override {
    if (any && m.pos <= last_pos) stalled = true;
    any = true;
    last_pos = m.pos;
    last_line = m.line;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// The line (1-based) where yaml-cpp's document loop would stall on `text`, or 0 when it does not.
int yaml_stall_line(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  while (parser.HandleNextDocument(starts)) {
    if (starts.stalled) return starts.last_line + 1;
  }
  return 0;
}

}  // namespace

Result<RoutingTable> load_routing_table(std::string_view yaml_text, std::string_view file_name,
                                        const FileReader& read_file) {
  const Ctx ctx{file_name};
  try {
    if (const int line = yaml_stall_line(std::string(yaml_text)); line != 0) {
      return ctx.error(line, "invalid YAML: unexpected flow indicator (a stray ',', '[' or '{'?)");
    }
    std::vector<Node> docs = YAML::LoadAll(std::string(yaml_text));
    if (docs.size() > 1) {
      return ctx.error(line_of(docs[1]),
                       "a second YAML document; the configuration is a single document");
    }
    return load(ctx, docs.empty() ? Node() : docs[0], read_file);
  } catch (const YAML::Exception& e) {
    // ParserException and the rest carry the mark of where yaml-cpp gave up.
    return ctx.error(e.mark.line < 0 ? 1 : e.mark.line + 1, "invalid YAML: " + e.msg);
  }
}

Result<RoutingTable> load_routing_table_file(const std::string& path) {
  Result<std::string> text = read_whole_file(path);
  if (!text) return text.error();
  return load_routing_table(*text, path, read_whole_file);
}

}  // namespace revrouter
