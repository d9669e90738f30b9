#include "tools/replay_output.h"

#include <algorithm>
#include <cstdio>

namespace revrouter::replay {
namespace {

using ojson = nlohmann::ordered_json;

// ---- Line diff (Myers, "An O(ND) Difference Algorithm") -----------------------------------------

enum class EditOp { kKeep, kDelete, kInsert };

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    lines.push_back(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
  }
  return lines;
}

// The shortest edit script from a to b. Only the diagonals -d-1..d+1 of each round are kept for
// the backtrack, so memory is O(D^2) where D is the number of changed lines.
std::vector<EditOp> shortest_edit(const std::vector<std::string_view>& a,
                                  const std::vector<std::string_view>& b) {
  const long n = static_cast<long>(a.size());
  const long m = static_cast<long>(b.size());
  const long max = n + m;
  std::vector<long> v(static_cast<std::size_t>(2 * max + 3), 0);
  const long off = max + 1;
  std::vector<std::vector<long>> trace;
  bool done = max == 0;
  for (long d = 0; d <= max && !done; ++d) {
    trace.emplace_back(v.begin() + (off - d - 1), v.begin() + (off + d + 2));
    for (long k = -d; k <= d; k += 2) {
      long x = (k == -d || (k != d && v[off + k - 1] < v[off + k + 1])) ? v[off + k + 1]
                                                                        : v[off + k - 1] + 1;
      long y = x - k;
      while (x < n && y < m && a[x] == b[y]) {
        ++x;
        ++y;
      }
      v[off + k] = x;
      if (x >= n && y >= m) {
        done = true;
        break;
      }
    }
  }
  std::vector<EditOp> ops;
  long x = n, y = m;
  for (long d = static_cast<long>(trace.size()) - 1; d >= 0; --d) {
    const auto& t = trace[static_cast<std::size_t>(d)];
    auto at = [&](long k) { return t[static_cast<std::size_t>(k + d + 1)]; };
    const long k = x - y;
    const long prev_k = (k == -d || (k != d && at(k - 1) < at(k + 1))) ? k + 1 : k - 1;
    const long prev_x = at(prev_k);
    const long prev_y = prev_x - prev_k;
    while (x > prev_x && y > prev_y) {
      ops.push_back(EditOp::kKeep);
      --x;
      --y;
    }
    if (d > 0) ops.push_back(x == prev_x ? EditOp::kInsert : EditOp::kDelete);
    x = prev_x;
    y = prev_y;
  }
  std::reverse(ops.begin(), ops.end());
  return ops;
}

// ---- Value summaries ----------------------------------------------------------------------------

std::string shorten(std::string s, std::size_t max) {
  if (s.size() > max) {
    s.resize(max - 3);
    s += "...";
  }
  return s;
}

std::string summarize_value(const ojson& v) {
  if (v.is_object()) {
    std::string out = "{";
    if (const auto name = v.find("name"); name != v.end() && name->is_string()) {
      out += "name: " + name->get<std::string>();
      if (v.size() > 1) out += ", +" + std::to_string(v.size() - 1) + " keys";
      return out + "}";
    }
    std::size_t shown = 0;
    for (const auto& [key, _] : v.items()) {
      if (shown == 3) {
        out += ", ...";
        break;
      }
      out += (shown++ == 0 ? "" : ", ") + key;
    }
    return out + "}";
  }
  if (v.is_array()) {
    return "[" + std::to_string(v.size()) + (v.size() == 1 ? " item]" : " items]");
  }
  return shorten(v.dump(), 80);
}

// "before → after" for one changed value; long values (a JSON status annotation) are cut to the
// part that differs, with a little context, so the change is visible on one line.
std::string summarize_change(const ojson& before, const ojson& after) {
  constexpr std::size_t kShort = 40, kContext = 16;
  if (!before.is_string() || !after.is_string()) {
    return summarize_value(before) + " → " + summarize_value(after);
  }
  const std::string a = before.dump(), b = after.dump();
  if (a.size() <= kShort && b.size() <= kShort) return a + " → " + b;
  std::size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  std::size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix]) {
    ++suffix;
  }
  const std::size_t from = prefix > kContext ? prefix - kContext : 0;
  const std::size_t keep = std::min(suffix, kContext);
  auto cut = [&](const std::string& s) {
    const std::size_t end = s.size() - suffix + keep;
    return (from > 0 ? "..." : "") + shorten(s.substr(from, end - from), 80) +
           (end < s.size() ? "..." : "");
  };
  return cut(a) + " → " + cut(b);
}

// ---- Text table ---------------------------------------------------------------------------------

using Row = std::vector<std::string>;

std::string table(const std::vector<Row>& rows, std::string_view indent,
                  const std::vector<bool>& right_align = {}) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line(indent);
    for (std::size_t i = 0; i < row.size(); ++i) {
      const bool last = i + 1 == row.size();
      const std::size_t pad = width[i] - row[i].size();
      if (i < right_align.size() && right_align[i]) line.append(pad, ' ');
      line += row[i];
      if (!last && !(i < right_align.size() && right_align[i])) line.append(pad, ' ');
      if (!last) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string pod_label(const RequestResult& r) {
  std::string name = r.pod.empty() ? "<no pod>" : r.pod;
  return r.namespace_.empty() ? name : r.namespace_ + "/" + name;
}

std::string requested_cell(const RequestResult& r) {
  if (r.requested.empty()) return "-";
  return r.route_source.empty() ? r.requested : r.requested + " (" + r.route_source + ")";
}

std::string reason_cell(const RequestResult& r) {
  if (r.outcome == Outcome::kDeny || r.outcome == Outcome::kError) return or_dash(r.error_code);
  return or_dash(r.reason);
}

std::string patched_pod_text(const ReplayInput& in, const RequestResult& r) {
  if (r.patch.empty() || !in.pod.is_object()) return in.pod.is_object() ? in.pod.dump(2) : "";
  auto applied = apply_patch(in.pod, r.patch);
  return applied ? applied->dump(2) : in.pod.dump(2);
}

std::string show_patch(const ReplayInput& in, const RequestResult& r, Show show) {
  if (r.patch.empty()) return {};
  constexpr std::string_view kIndent = "    ";
  switch (show) {
    case Show::kNone:
      return {};
    case Show::kOps:
      return describe_ops(r.patch, kIndent);
    case Show::kPatch: {
      const auto ops = ojson::parse(r.patch, nullptr, false);
      const std::string text = ops.is_discarded() ? r.patch : ops.dump(2);
      std::string out;
      for (auto line : split_lines(text)) out.append(kIndent).append(line).push_back('\n');
      return out;
    }
    case Show::kDiff:
      return line_diff(in.pod.dump(2), patched_pod_text(in, r), 3, kIndent);
  }
  return {};
}

// What changed between two sides of a what-if, in the chosen form.
std::string show_change(const ReplayInput& in, const RequestResult& a, const RequestResult& b,
                        Show show) {
  constexpr std::string_view kIndent = "    ";
  switch (show) {
    case Show::kNone:
      return {};
    case Show::kOps: {
      // Operations paired by op and path; a pair whose values differ shows the fields inside the
      // value that differ ("~"), unpaired operations show as "-" (before only) and "+" (after).
      const auto pa = ojson::parse(a.patch.empty() ? "[]" : a.patch, nullptr, false);
      const auto pb = ojson::parse(b.patch.empty() ? "[]" : b.patch, nullptr, false);
      if (!pa.is_array() || !pb.is_array()) return {};
      std::vector<bool> used(pb.size(), false);
      std::vector<Row> rows;
      auto one_op = [](char mark, const ojson& op) {
        Row row{std::string(1, mark), op.value("op", "?") + " " + op.value("path", "?")};
        if (const auto v = op.find("value"); v != op.end()) row.push_back(summarize_value(*v));
        return row;
      };
      for (const auto& op : pa) {
        std::size_t j = 0;
        while (j < pb.size() && (used[j] || pb[j].value("op", "") != op.value("op", "") ||
                                 pb[j].value("path", "") != op.value("path", ""))) {
          ++j;
        }
        if (j == pb.size()) {
          rows.push_back(one_op('-', op));
          continue;
        }
        used[j] = true;
        if (pb[j] == op) continue;
        const ojson& va = op.contains("value") ? op["value"] : ojson();
        const ojson& vb = pb[j].contains("value") ? pb[j]["value"] : ojson();
        const std::string base = op.value("path", "");
        for (const auto& d : ojson::diff(va, vb)) {
          const std::string where = base + d.value("path", "");
          const std::string kind = d.value("op", "");
          if (kind == "replace") {
            const ojson before = va.at(ojson::json_pointer(d.value("path", "")));
            rows.push_back({"~", where, summarize_change(before, d["value"])});
          } else if (kind == "add") {
            rows.push_back({"+", where, summarize_value(d["value"])});
          } else {
            rows.push_back({"-", where});
          }
        }
      }
      for (std::size_t j = 0; j < pb.size(); ++j) {
        if (!used[j]) rows.push_back(one_op('+', pb[j]));
      }
      return table(rows, kIndent);
    }
    case Show::kPatch: {
      std::string out;
      for (const auto* side : {&a, &b}) {
        out.append(kIndent).append(side == &a ? "before:" : "after:").push_back('\n');
        std::string p = show_patch(in, *side, Show::kPatch);
        out += p.empty() ? std::string(kIndent) + "    (no patch)\n" : p;
      }
      return out;
    }
    case Show::kDiff:
      return line_diff(patched_pod_text(in, a), patched_pod_text(in, b), 3, kIndent);
  }
  return {};
}

std::string plural(std::size_t n, std::string_view one) {
  return std::to_string(n) + " " + std::string(one) + (n == 1 ? "" : "s");
}

std::string summary_text(const Summary& s, std::string_view title) {
  char head[256];
  std::snprintf(head, sizeof head, ": %zu inject, %zu proxy, %zu skip, %zu deny, %zu error",
                s.injected, s.proxied, s.skipped, s.denied, s.errors);
  std::string out = std::string(title) + plural(s.requests, "request") + head;
  if (s.input_errors > 0) {
    out +=
        "; " + std::to_string(s.input_errors) + " input error" + (s.input_errors == 1 ? "" : "s");
  }
  out += "\n";
  if (s.rows.empty()) return out;
  std::vector<Row> rows{{"REVISION", "DECISION", "REASON", "PODS"}};
  for (const auto& row : s.rows) {
    rows.push_back({or_dash(row.revision), std::string(to_string(row.outcome)), or_dash(row.reason),
                    std::to_string(row.count)});
  }
  return out + table(rows, "  ", {false, false, false, true});
}

std::string result_notes(const RequestResult& r) {
  std::string out;
  if (r.outcome == Outcome::kDeny) out += "    denied: " + or_dash(r.error_message) + "\n";
  if (r.outcome == Outcome::kError) out += "    error: " + r.error_message + "\n";
  for (const auto& w : r.warnings) out += "    warning: " + w + "\n";
  return out;
}

std::string input_errors_text(const std::vector<InputError>& errors) {
  if (errors.empty()) return {};
  std::string out = "\nInput errors:\n";
  for (const auto& e : errors) out += "  " + e.source + ": " + e.message + "\n";
  return out;
}

std::string render_replay(const Report& rep) {
  const auto& results = rep.run->results;
  std::string out;
  // Each request: its row, then its notes and patch; the header repeats nothing, so rows with
  // patches under them stay readable.
  std::vector<Row> rows{{"POD", "DECISION", "REVISION", "REQUESTED", "REASON", "INPUT"}};
  for (const auto& r : results) {
    rows.push_back({pod_label(r), std::string(to_string(r.outcome)), or_dash(r.revision),
                    requested_cell(r), reason_cell(r), r.source});
  }
  const std::string lines = table(rows, "");
  const auto split = split_lines(lines);
  out.append(split.front()).push_back('\n');
  for (std::size_t i = 0; i < results.size(); ++i) {
    out.append(split[i + 1]).push_back('\n');
    out += result_notes(results[i]);
    out += show_patch((*rep.inputs)[i], results[i], rep.show);
  }
  out += "\n" + summary_text(rep.run->summary, "Summary: ");
  out += input_errors_text(*rep.input_errors);
  return out;
}

std::string render_what_if(const Report& rep) {
  const auto& before = rep.run->results;
  const auto& after = rep.what_if->results;
  const WhatIf& w = *rep.comparison;
  std::string out = "What-if: " + rep.run->target + " -> " + rep.what_if->target + " changes " +
                    plural(w.changes.size(), "pod") + " (" + std::to_string(w.unchanged) +
                    " unchanged)\n";
  if (!w.changes.empty()) {
    out += "\n";
    auto side = [](const RequestResult& r) { return side_label(r) + " (" + reason_cell(r) + ")"; };
    std::vector<Row> rows{{"POD", "BEFORE", "AFTER", "CHANGED", "INPUT"}};
    for (const auto& c : w.changes) {
      const RequestResult& a = before[c.index];
      const RequestResult& b = after[c.index];
      std::string changed;
      for (const auto& [flag, name] :
           {std::pair{c.outcome, "decision"}, std::pair{c.revision, "revision"},
            std::pair{c.patch, "patch"}}) {
        if (flag) changed += (changed.empty() ? "" : ",") + std::string(name);
      }
      rows.push_back({pod_label(a), side(a), side(b), changed, a.source});
    }
    const std::string lines = table(rows, "");
    const auto split = split_lines(lines);  // views into `lines`
    out.append(split.front()).push_back('\n');
    for (std::size_t i = 0; i < w.changes.size(); ++i) {
      out.append(split[i + 1]).push_back('\n');
      const std::size_t idx = w.changes[i].index;
      out += show_change((*rep.inputs)[idx], before[idx], after[idx], rep.show);
    }
    out += "\nMoves:\n";
    std::size_t width = 0;
    for (const auto& m : w.moves) width = std::max(width, plural(m.count, "pod").size());
    for (const auto& m : w.moves) {
      const std::string count = plural(m.count, "pod");
      out.append(2 + width - count.size(), ' ').append(count).append(": ");
      out += m.patch_only ? m.from + ", patch changed\n" : m.from + " → " + m.to + "\n";
    }
  }
  out += "\n" + summary_text(rep.run->summary, "Before: ");
  out += summary_text(rep.what_if->summary, "After:  ");
  out += input_errors_text(*rep.input_errors);
  // Errors are listed once per side: they are what makes the exit code non-zero.
  for (const auto* run : {rep.run, rep.what_if}) {
    bool first = true;
    for (const auto& r : run->results) {
      if (r.outcome != Outcome::kError && r.outcome != Outcome::kDeny) continue;
      if (first) out += "\nErrors and denials (" + run->target + "):\n";
      first = false;
      out += "  " + r.source + ": " + pod_label(r) + ": " + r.error_code + ": " +
             or_dash(r.error_message) + "\n";
    }
  }
  return out;
}

ojson patch_json(const std::string& patch) {
  if (patch.empty()) return nullptr;
  auto ops = ojson::parse(patch, nullptr, false);
  return ops.is_discarded() ? ojson(patch) : ops;
}

ojson result_json(const ReplayInput& in, const RequestResult& r, Show show) {
  ojson j = ojson::object();
  j["source"] = r.source;
  j["uid"] = r.uid;
  j["namespace"] = r.namespace_;
  j["pod"] = r.pod;
  j["path"] = r.path;
  j["decision"] = to_string(r.outcome);
  j["revision"] = r.revision.empty() ? ojson(nullptr) : ojson(r.revision);
  j["requested"] = r.requested.empty() ? ojson(nullptr) : ojson(r.requested);
  j["routeSource"] = r.route_source.empty() ? ojson(nullptr) : ojson(r.route_source);
  j["reason"] = r.reason.empty() ? ojson(nullptr) : ojson(r.reason);
  j["warnings"] = r.warnings;
  j["httpStatus"] = r.http_status;
  if (show != Show::kNone) j["patch"] = patch_json(r.patch);
  if (show == Show::kDiff && !r.patch.empty()) {
    j["diff"] = line_diff(in.pod.dump(2), patched_pod_text(in, r), 3, "");
  }
  if (r.outcome == Outcome::kDeny || r.outcome == Outcome::kError) {
    j["error"] = {{"code", r.error_code}, {"message", r.error_message}};
  } else {
    j["error"] = nullptr;
  }
  return j;
}

ojson summary_json(const Summary& s) {
  ojson rows = ojson::array();
  for (const auto& row : s.rows) {
    rows.push_back({{"revision", row.revision.empty() ? ojson(nullptr) : ojson(row.revision)},
                    {"decision", to_string(row.outcome)},
                    {"reason", row.reason},
                    {"count", row.count}});
  }
  return {{"requests", s.requests},
          {"inject", s.injected},
          {"proxy", s.proxied},
          {"skip", s.skipped},
          {"deny", s.denied},
          {"error", s.errors},
          {"inputErrors", s.input_errors},
          {"rows", rows}};
}

ojson side_json(const RequestResult& r) {
  return {{"decision", to_string(r.outcome)},
          {"revision", r.revision.empty() ? ojson(nullptr) : ojson(r.revision)},
          {"reason", reason_cell(r)},
          {"label", side_label(r)}};
}

}  // namespace

Result<Show> parse_show(std::string_view text) {
  if (text == "none") return Show::kNone;
  if (text == "ops") return Show::kOps;
  if (text == "patch") return Show::kPatch;
  if (text == "diff") return Show::kDiff;
  return make_error("usage", "--show " + std::string(text) + ": want none, ops, patch or diff");
}

std::string describe_ops(std::string_view patch, std::string_view indent) {
  const auto ops = ojson::parse(patch, nullptr, false);
  if (!ops.is_array()) return std::string(indent) + "(not a JSON Patch)\n";
  std::vector<Row> rows;
  for (const auto& op : ops) {
    Row row{op.value("op", "?"), op.value("path", "?")};
    if (const auto from = op.find("from"); from != op.end() && from->is_string()) {
      row.push_back("from " + from->get<std::string>());
    } else if (const auto value = op.find("value"); value != op.end()) {
      row.push_back(summarize_value(*value));
    }
    rows.push_back(std::move(row));
  }
  return table(rows, indent);
}

std::string line_diff(std::string_view before, std::string_view after, int context,
                      std::string_view indent) {
  if (before == after) return {};
  const auto a = split_lines(before);
  const auto b = split_lines(after);
  const auto ops = shortest_edit(a, b);
  // Line positions in a and b before each edit, for the hunk headers.
  std::vector<std::size_t> apos(ops.size() + 1, 0), bpos(ops.size() + 1, 0);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    apos[i + 1] = apos[i] + (ops[i] != EditOp::kInsert ? 1 : 0);
    bpos[i + 1] = bpos[i] + (ops[i] != EditOp::kDelete ? 1 : 0);
  }
  const std::size_t ctx = static_cast<std::size_t>(std::max(context, 0));
  std::string out;
  std::size_t i = 0;
  while (i < ops.size()) {
    if (ops[i] == EditOp::kKeep) {
      ++i;
      continue;
    }
    // A hunk: from `ctx` keeps before this change to `ctx` keeps after the last change that is
    // at most 2*ctx keeps away from the previous one (so hunks never touch).
    const std::size_t lo = i >= ctx ? i - ctx : 0;
    std::size_t last = i;
    for (std::size_t j = i; j < ops.size() && j <= last + 2 * ctx + 1; ++j) {
      if (ops[j] != EditOp::kKeep) last = j;
    }
    const std::size_t hi = std::min(ops.size(), last + ctx + 1);
    char head[96];
    std::snprintf(head, sizeof head, "@@ -%zu,%zu +%zu,%zu @@\n", apos[lo] + 1, apos[hi] - apos[lo],
                  bpos[lo] + 1, bpos[hi] - bpos[lo]);
    out.append(indent).append(head);
    for (std::size_t j = lo; j < hi; ++j) {
      out.append(indent);
      switch (ops[j]) {
        case EditOp::kKeep:
          out.append(" ").append(a[apos[j]]);
          break;
        case EditOp::kDelete:
          out.append("-").append(a[apos[j]]);
          break;
        case EditOp::kInsert:
          out.append("+").append(b[bpos[j]]);
          break;
      }
      out.push_back('\n');
    }
    i = hi;
  }
  return out;
}

std::string render_text(const Report& report) {
  return report.comparison != nullptr ? render_what_if(report) : render_replay(report);
}

ojson render_json(const Report& rep) {
  ojson doc = ojson::object();
  doc["mode"] = rep.mode;
  doc["target"] = rep.run->target;
  ojson results = ojson::array();
  for (std::size_t i = 0; i < rep.run->results.size(); ++i) {
    results.push_back(result_json((*rep.inputs)[i], rep.run->results[i], rep.show));
  }
  doc["results"] = std::move(results);
  doc["summary"] = summary_json(rep.run->summary);
  ojson errors = ojson::array();
  for (const auto& e : *rep.input_errors)
    errors.push_back({{"source", e.source}, {"message", e.message}});
  doc["inputErrors"] = std::move(errors);
  if (rep.comparison != nullptr) {
    const WhatIf& w = *rep.comparison;
    ojson wi = ojson::object();
    wi["target"] = rep.what_if->target;
    ojson after = ojson::array();
    for (std::size_t i = 0; i < rep.what_if->results.size(); ++i) {
      after.push_back(result_json((*rep.inputs)[i], rep.what_if->results[i], rep.show));
    }
    wi["results"] = std::move(after);
    wi["summary"] = summary_json(rep.what_if->summary);
    ojson changes = ojson::array();
    for (const auto& c : w.changes) {
      const RequestResult& a = rep.run->results[c.index];
      const RequestResult& b = rep.what_if->results[c.index];
      ojson changed = ojson::array();
      if (c.outcome) changed.push_back("decision");
      if (c.revision) changed.push_back("revision");
      if (c.patch) changed.push_back("patch");
      changes.push_back({{"index", c.index},
                         {"source", a.source},
                         {"namespace", a.namespace_},
                         {"pod", a.pod},
                         {"changed", changed},
                         {"before", side_json(a)},
                         {"after", side_json(b)}});
    }
    wi["changes"] = std::move(changes);
    ojson moves = ojson::array();
    for (const auto& m : w.moves) {
      moves.push_back(
          {{"from", m.from}, {"to", m.to}, {"patchOnly", m.patch_only}, {"count", m.count}});
    }
    wi["moves"] = std::move(moves);
    wi["unchanged"] = w.unchanged;
    doc["whatIf"] = std::move(wi);
  }
  return doc;
}

}  // namespace revrouter::replay
