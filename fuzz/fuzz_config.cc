// Fuzzes the config loaders: each input is read both as a routing table (whose template files are
// served by a reader returning the example's valid template, the input itself for a path named
// "self.yaml", a PEM block for any ".pem") and as a sidecar template. Loading must return a value
// or a "config" error with a
// "<file>:..." message, never crash, hang or throw.
#include <cstdint>
#include <string>
#include <string_view>

#include "admission/routing_config.h"
#include "admission/sidecar_template.h"
#include "fuzz/fuzz_support.h"

namespace {

using namespace revrouter;

void check_error(const Error& e, std::string_view file, std::string_view input) {
  if (e.code != "config") fuzz::fail("config error without code \"config\"", e.message);
  if (e.message.empty()) fuzz::fail("config error without a message", input);
  (void)file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string& good_template = fuzz::example_template_text();

  const FileReader reader = [&](const std::string& path) -> Result<std::string> {
    if (path.ends_with("self.yaml")) return text;
    if (path.ends_with("missing.yaml")) return make_error("config", path + ": no such file");
    if (path.ends_with(".pem")) {
      return std::string("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    }
    return good_template;
  };
  auto table = load_routing_table(text, "fuzz.yaml", reader);
  if (!table) {
    check_error(table.error(), "fuzz.yaml", text);
  } else {
    // What the loader promises: every tag names known revisions with weights summing to 100, and
    // every local revision has its template.
    for (const Tag& tag : table->tags) {
      std::uint32_t sum = 0;
      for (const WeightedRevision& w : tag.targets) {
        if (w.revision >= table->revisions.size()) fuzz::fail("tag names no revision", text);
        sum += w.weight;
      }
      if (sum != 100) fuzz::fail("tag weights do not sum to 100", text);
    }
    for (const Revision& rev : table->revisions) {
      if (rev.backend == Backend::kLocal && rev.sidecar == nullptr) {
        fuzz::fail("local revision without a template", text);
      }
      if ((rev.backend == Backend::kProxy || rev.shadow) &&
          (rev.upstream.host.empty() || rev.upstream.ca_pem.empty() || rev.upstream.port == 0)) {
        fuzz::fail("upstream without host, port or CA", text);
      }
      if (rev.backend == Backend::kProxy && rev.on_failure.action == FailureAction::kFallback) {
        if (rev.on_failure.fallback >= table->revisions.size()) {
          fuzz::fail("fallback names no revision", text);
        }
        const Revision& target = table->revisions[rev.on_failure.fallback];
        if (&target == &rev) fuzz::fail("revision falls back to itself", text);
        if (target.backend == Backend::kProxy &&
            target.on_failure.action == FailureAction::kFallback) {
          fuzz::fail("fallback chain", text);
        }
      }
    }
  }

  auto tpl = load_sidecar_template(text, "fuzz-sidecar.yaml");
  if (!tpl) check_error(tpl.error(), "fuzz-sidecar.yaml", text);
  return 0;
}
