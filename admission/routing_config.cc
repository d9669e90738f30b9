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

bool RoutingTable::has_upstreams() const {
  for (const Revision& r : revisions) {
    if (r.backend == Backend::kProxy || r.shadow) return true;
  }
  return false;
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

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Dotted-quad IPv4: four decimal numbers 0..255 without leading zeros (which some resolvers read as
// octal).
bool is_ipv4(std::string_view v) {
  int parts = 0;
  while (true) {
    std::size_t dot = v.find('.');
    std::string_view part = v.substr(0, dot);
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part.front() == '0')) return false;
    int n = 0;
    for (char c : part) {
      if (!is_digit(c)) return false;
      n = n * 10 + (c - '0');
    }
    if (n > 255 || ++parts > 4) return false;
    if (dot == std::string_view::npos) return parts == 4;
    v.remove_prefix(dot + 1);
  }
}

// RFC 4291 text form: eight groups of 1-4 hex digits, one "::" standing for one or more zero
// groups, the last 32 bits optionally as dotted-quad IPv4. No zone ("%eth0"): it means nothing to
// another host.
bool is_ipv6(std::string_view v) {
  // Adds the groups of `side` to `count`; `last` when `side` ends the address (IPv4 allowed).
  auto groups = [](std::string_view side, bool last, int& count) {
    while (!side.empty()) {
      std::size_t colon = side.find(':');
      std::string_view g = side.substr(0, colon);
      if (last && colon == std::string_view::npos && g.find('.') != std::string_view::npos) {
        count += 2;
        return is_ipv4(g);
      }
      if (g.empty() || g.size() > 4) return false;
      for (char c : g) {
        if (!is_hex(c)) return false;
      }
      ++count;
      if (colon == std::string_view::npos) return true;
      side.remove_prefix(colon + 1);
      if (side.empty()) return false;  // a trailing single ':'
    }
    return true;
  };
  int count = 0;
  std::size_t gap = v.find("::");
  if (gap == std::string_view::npos) return groups(v, true, count) && count == 8;
  if (v.find("::", gap + 1) != std::string_view::npos) return false;
  return groups(v.substr(0, gap), false, count) && groups(v.substr(gap + 2), true, count) &&
         count <= 7;
}

// A host name as a URL or serverName carries it: a lowercase RFC 1123 DNS name, or an IPv4
// address. Digits and dots only are read as an address, as URL parsers do, so "10.0.0.256" is an
// error rather than a DNS name.
bool is_dns_name_or_ipv4(std::string_view v) {
  if (v.find_first_not_of("0123456789.") == std::string_view::npos) return is_ipv4(v);
  return is_dns_subdomain(v);
}

// RFC 3986 pchar or '/': what an HTTP request line may carry in its path without escaping.
bool is_path_char(char c) {
  return is_alnum(c) || std::string_view("-._~!$&'()*+,;=:@/").find(c) != std::string_view::npos;
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

// A character for a message: itself when printable, else its byte value.
std::string describe_char(char c) {
  if (c >= ' ' && c < 0x7f) return quoted(std::string_view(&c, 1));
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02x", static_cast<unsigned char>(c));
  return buf;
}

// Splits up.url (https://host[:port][/path]) into host, port and path. `what` names the map the url
// is in ("revision \"r\"", "shadow of revision \"r\"") and `line` is where it is.
Status parse_url(const Ctx& ctx, int line, const std::string& what, UpstreamConfig& up) {
  const std::string_view url = up.url;
  const std::string of = "url of " + what;
  constexpr std::string_view kHttps = "https://";
  if (url.substr(0, kHttps.size()) != kHttps || url.size() == kHttps.size() ||
      url[kHttps.size()] == '/' || url[kHttps.size()] == ':') {
    return ctx.error(line, of + " must be an https:// URL with a host, got " + quoted(url));
  }
  // The request path is built from the url's path plus key/value segments; a query or fragment
  // would end up in the middle of it.
  if (url.find_first_of("?#") != std::string_view::npos) {
    return ctx.error(line,
                     of + " must not have a query or fragment ('?' or '#'), got " + quoted(url));
  }
  std::string_view rest = url.substr(kHttps.size());
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? "/" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return ctx.error(line, of +
                               " must not carry user info (\"user@\"); istiod authenticates "
                               "nothing from the URL. Got " +
                               quoted(url));
  }

  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return ctx.error(
          line, of + " opens an IPv6 address with '[' but does not close it, got " + quoted(url));
    }
    host = authority.substr(1, close - 1);
    if (!is_ipv6(host)) {
      return ctx.error(line, "host " + quoted(host) + " of " + of + " is not an IPv6 address");
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return ctx.error(line, of + " has " + quoted(after) +
                                   " after the IPv6 address; expected \":<port>\" or a path");
      }
      has_port = true;
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return ctx.error(line, of + " has an IPv6 address without brackets; write https://[" +
                                 std::string(authority) + "]/... (with :<port> after ']')");
    }
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(colon + 1);
    }
    if (!is_dns_name_or_ipv4(host)) {
      return ctx.error(line, "host " + quoted(host) + " of " + of +
                                 " must be a lowercase DNS name (RFC 1123), an IPv4 address or "
                                 "an IPv6 address in brackets");
    }
  }

  std::uint32_t port_value = 443;
  if (has_port) {
    bool ok = !port.empty() && port.size() <= 5;
    port_value = 0;
    for (char c : port) {
      if (!ok || !is_digit(c)) {
        ok = false;
        break;
      }
      port_value = port_value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (!ok || port_value == 0 || port_value > 65535) {
      return ctx.error(
          line, "port " + quoted(port) + " of " + of + " must be an integer from 1 to 65535");
    }
  }

  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size() || !is_hex(path[i + 1]) || !is_hex(path[i + 2])) {
        return ctx.error(line, "path of " + of + " has a '%' not followed by two hex digits");
      }
      i += 2;
    } else if (!is_path_char(c)) {
      return ctx.error(line, "path of " + of + " has " + describe_char(c) +
                                 ", which a URL path cannot carry; percent-encode it");
    }
  }

  up.host = std::string(host);
  up.port = static_cast<std::uint16_t>(port_value);
  up.path = std::string(path);
  return Ok{};
}

// The keys that describe an upstream (a proxy revision's istiod, or a shadow's) as written; lines
// are 0 for keys that are absent.
struct UpstreamDraft {
  std::string url;
  int url_line = 0;      // of the value, for messages about it
  int url_key_line = 0;  // UpstreamConfig::line
  std::string ca_file;
  int ca_line = 0;
  std::string server_name;
  int server_name_line = 0;
};

// The rows of those keys, shared by a revision's map and its `shadow` map: each a string kept
// with the line of its value (and, for url, of its key).
KeyRule upstream_string_key(const Ctx& ctx, std::string_view key, const std::string& what,
                            std::string& value, int& line, int* key_line = nullptr) {
  return {key, [&ctx, key, what, &value, &line, key_line](const Entry& k) -> Status {
            auto v = string_value(ctx, k, std::string(key) + " of " + what);
            if (!v) return v.error();
            value = std::move(*v);
            line = k.line();
            if (key_line != nullptr) *key_line = k.key_line();
            return Ok{};
          }};
}

KeyRule url_key(const Ctx& ctx, const std::string& what, UpstreamDraft& d) {
  return upstream_string_key(ctx, "url", what, d.url, d.url_line, &d.url_key_line);
}
KeyRule ca_file_key(const Ctx& ctx, const std::string& what, UpstreamDraft& d) {
  return upstream_string_key(ctx, "caFile", what, d.ca_file, d.ca_line);
}
KeyRule server_name_key(const Ctx& ctx, const std::string& what, UpstreamDraft& d) {
  return upstream_string_key(ctx, "serverName", what, d.server_name, d.server_name_line);
}

// Fills `up` from the draft: the url (or the default istiod-<revision> Service) split into parts,
// the server name, and the caFile path (read once the whole table is valid). `what` names the map
// the keys are in, `map_line` is where it starts.
Status finish_upstream(const Ctx& ctx, const UpstreamDraft& d, const Revision& rev,
                       const std::string& what, int map_line, bool shadow, UpstreamConfig& up) {
  if (d.url_line == 0) {
    // Istio's per-revision Service is istiod-<revision>; that only works for DNS-label names.
    if (!is_dns_label(rev.name)) {
      return ctx.error(map_line, "revision " + quoted(rev.name) +
                                     " is not a valid DNS label, so there is no default istiod-" +
                                     rev.name + " Service; give \"url\"" +
                                     (shadow ? " in \"shadow\"" : ""));
    }
    up.url = std::string(kDefaultProxyUrlPrefix) + rev.name + std::string(kDefaultProxyUrlSuffix);
    up.line = rev.line;
  } else {
    up.url = d.url;
    up.line = d.url_key_line;
  }
  Status s = parse_url(ctx, d.url_line != 0 ? d.url_line : map_line, what, up);
  if (!s) return s;

  if (d.server_name_line != 0) {
    if (!is_dns_name_or_ipv4(d.server_name) && !is_ipv6(d.server_name)) {
      return ctx.error(d.server_name_line,
                       "serverName " + quoted(d.server_name) + " of " + what +
                           " must be a lowercase DNS name (RFC 1123) or an IP address (IPv6 "
                           "without brackets)");
    }
    up.server_name = d.server_name;
  } else {
    up.server_name = up.host;
  }

  if (d.ca_line == 0) {
    return ctx.error(map_line, what +
                                   " needs \"caFile\": the PEM CA bundle that signed istiod's "
                                   "certificate (Istio's istio-ca-root-cert ConfigMap, "
                                   "root-cert.pem)");
  }
  up.ca_file = d.ca_file;
  up.ca_line = d.ca_line;
  return Ok{};
}

// A revision while loading: the lines of keys checked after the whole map is read, and the
// fallback by name, resolved once every revision is known.
struct RevisionDraft {
  Revision rev;
  int template_line = 0;  // 0 when absent
  UpstreamDraft upstream;
  UpstreamDraft shadow;
  int shadow_line = 0;
  int on_failure_line = 0;
  int breaker_line = 0;
  std::string fallback;
  int fallback_line = 0;
};

// onFailure: fail-closed | fail-open | {fallback: <revision>}.
Status parse_on_failure(const Ctx& ctx, const Entry& e, const std::string& what, RevisionDraft& d) {
  constexpr std::string_view kAllowed = "fail-closed, fail-open, {fallback: <revision>}";
  const std::string name = "onFailure of " + what;
  if (e.value.IsScalar()) {
    const std::string& s = e.value.Scalar();
    if (s == "fail-closed") {
      d.rev.on_failure.action = FailureAction::kFailClosed;
    } else if (s == "fail-open") {
      d.rev.on_failure.action = FailureAction::kFailOpen;
    } else {
      return ctx.error(e.line(),
                       "unknown onFailure " + quoted(s) + "; allowed: " + std::string(kAllowed));
    }
    return Ok{};
  }
  if (!e.value.IsMap() || e.value.size() == 0) {
    return ctx.error(e.line(),
                     name + " must be one of " + std::string(kAllowed) + ", got " +
                         (e.value.IsMap() ? "an empty map" : std::string(type_name(e.value))));
  }
  return parse_keys(ctx, e.value, e.line(), name,
                    {
                        {"fallback",
                         [&](const Entry& f) -> Status {
                           auto v = string_value(ctx, f, "fallback of " + what);
                           if (!v) return v.error();
                           d.rev.on_failure.action = FailureAction::kFallback;
                           d.fallback = std::move(*v);
                           d.fallback_line = f.line();
                           return Ok{};
                         }},
                    });
}

Status parse_breaker(const Ctx& ctx, const Entry& e, const std::string& what, BreakerConfig& b) {
  const std::string name = "breaker of " + what;
  return parse_keys(ctx, e.value, e.line(), name,
                    {
                        {"failures",
                         [&](const Entry& k) -> Status {
                           auto v = int_value(ctx, k, "failures in " + name, 1, 1000);
                           if (!v) return v.error();
                           b.failures = *v;
                           return Ok{};
                         }},
                        {"probeIntervalMs",
                         [&](const Entry& k) -> Status {
                           auto v = int_value(ctx, k, "probeIntervalMs in " + name, 50, 600000);
                           if (!v) return v.error();
                           b.probe_interval_ms = *v;
                           return Ok{};
                         }},
                    });
}

Status parse_revision(const Ctx& ctx, const Entry& e, RevisionDraft& d) {
  d.rev.name = e.name;
  d.rev.line = e.key_line();
  if (d.rev.name.empty() || !is_label_value(d.rev.name)) {
    return ctx.error(e.key_line(), "revision name " + quoted(e.name) +
                                       " is not a valid Kubernetes label value (" +
                                       std::string(kLabelValueRule) + ")");
  }
  const std::string what = "revision " + quoted(e.name);
  const std::string shadow_what = "shadow of " + what;
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
                            url_key(ctx, what, d.upstream),
                            ca_file_key(ctx, what, d.upstream),
                            server_name_key(ctx, what, d.upstream),
                            {"onFailure",
                             [&](const Entry& k) -> Status {
                               d.on_failure_line = k.line();
                               return parse_on_failure(ctx, k, what, d);
                             }},
                            {"breaker",
                             [&](const Entry& k) -> Status {
                               d.breaker_line = k.key_line();
                               return parse_breaker(ctx, k, what, d.rev.breaker);
                             }},
                            {"shadow",
                             [&](const Entry& k) -> Status {
                               d.shadow_line = k.key_line();
                               return parse_keys(ctx, k.value, k.line(), shadow_what,
                                                 {
                                                     url_key(ctx, shadow_what, d.shadow),
                                                     ca_file_key(ctx, shadow_what, d.shadow),
                                                     server_name_key(ctx, shadow_what, d.shadow),
                                                 });
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
    // The keys of a local revision's istiod belong in its shadow map.
    const std::pair<int, std::string_view> proxy_only[] = {
        {d.upstream.url_line, "url"},
        {d.upstream.ca_line, "caFile"},
        {d.upstream.server_name_line, "serverName"},
    };
    for (const auto& [line, key] : proxy_only) {
      if (line != 0) {
        return ctx.error(line, quoted(key) + " is only for backend proxy; " + what +
                                   " is local (a shadow's " + std::string(key) +
                                   " goes inside \"shadow\")");
      }
    }
    if (d.on_failure_line != 0) {
      return ctx.error(d.on_failure_line, "\"onFailure\" is only for backend proxy; " + what +
                                              " is local, its answer never waits on an istiod");
    }
    if (d.shadow_line == 0) {
      if (d.breaker_line != 0) {
        return ctx.error(d.breaker_line,
                         "\"breaker\" is only for backend proxy or with \"shadow\"; " + what +
                             " is local without a shadow");
      }
      return Ok{};
    }
    d.rev.shadow = true;
    return finish_upstream(ctx, d.shadow, d.rev, shadow_what, d.shadow_line, true, d.rev.upstream);
  }
  if (d.template_line != 0) {
    return ctx.error(d.template_line,
                     "\"template\" is only for backend local; " + what + " is proxy");
  }
  if (d.shadow_line != 0) {
    return ctx.error(d.shadow_line, "\"shadow\" is only for backend local; " + what +
                                        " is proxy, its answers come from istiod already");
  }
  s = finish_upstream(ctx, d.upstream, d.rev, what, d.rev.line, false, d.rev.upstream);
  if (!s) return s;
  d.rev.url = d.rev.upstream.url;
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
  // Fallbacks: revisions may be declared in any order. One step only, so a failing istiod never
  // sends a request through a second one (and no cycle can form).
  for (std::size_t i = 0; i < table.revisions.size(); ++i) {
    Revision& rev = table.revisions[i];
    if (rev.on_failure.action != FailureAction::kFallback) continue;
    const RevisionDraft& d = revisions[i];
    const Revision* target = table.find_revision(d.fallback);
    if (target == nullptr) {
      for (const TagDraft& t : tags) {
        if (t.name == d.fallback) {
          return ctx.error(d.fallback_line, "revision " + quoted(rev.name) + " falls back to tag " +
                                                quoted(d.fallback) +
                                                "; a fallback must name a revision");
        }
      }
      return ctx.error(d.fallback_line,
                       "revision " + quoted(rev.name) + " falls back to unknown revision " +
                           quoted(d.fallback) + "; revisions: " + revision_names());
    }
    const std::size_t index = static_cast<std::size_t>(target - table.revisions.data());
    if (index == i) {
      return ctx.error(d.fallback_line, "revision " + quoted(rev.name) +
                                            " falls back to itself; name another revision or "
                                            "use fail-closed or fail-open");
    }
    if (target->on_failure.action == FailureAction::kFallback) {
      return ctx.error(d.fallback_line, "revision " + quoted(rev.name) + " falls back to " +
                                            quoted(target->name) + ", which itself falls back to " +
                                            quoted(revisions[index].fallback) + " (line " +
                                            std::to_string(revisions[index].fallback_line) +
                                            "); fallback chains are not allowed");
    }
    rev.on_failure.fallback = index;
  }
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

  // CA bundles, read once per file (revisions usually share istio-ca-root-cert). Only checked for a
  // PEM certificate here; the server parses it when it builds the TLS context.
  std::map<std::string, std::string, std::less<>> cas;
  for (Revision& rev : table.revisions) {
    if (rev.backend != Backend::kProxy && !rev.shadow) continue;
    UpstreamConfig& up = rev.upstream;
    up.ca_file = resolve_path(dir, up.ca_file);
    auto it = cas.find(up.ca_file);
    if (it == cas.end()) {
      if (!read_file) {
        return ctx.error(up.ca_line,
                         "revision " + quoted(rev.name) + ": no file reader to load its caFile");
      }
      Result<std::string> text = read_file(up.ca_file);
      if (!text) {
        return ctx.error(up.ca_line, "caFile of revision " + quoted(rev.name) +
                                         " cannot be read: " + text.error().message);
      }
      if (text->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
        return ctx.error(up.ca_line, "caFile " + up.ca_file +
                                         ": no PEM certificate in file (no \"-----BEGIN "
                                         "CERTIFICATE-----\" line)");
      }
      it = cas.emplace(up.ca_file, std::move(*text)).first;
    }
    up.ca_pem = it->second;
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
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
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
