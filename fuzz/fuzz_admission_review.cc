// Fuzzes the AdmissionReview codec and the whole request: the input's first byte picks the webhook
// path (one of a fixed set, or the input's first line as an arbitrary path), the rest is the body.
// Each body goes through parse_admission_review alone and then handle_admission against the
// example routing table; the answer must satisfy check_answer's invariants. RapidJSON's recursive
// and iterative parsers must agree on every body.
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "admission/admission_review.h"
#include "admission/handler.h"
#include "fuzz/fuzz_support.h"
#include "tests/admission/review_parsers.h"

namespace {

using namespace revrouter;

constexpr std::array<std::string_view, 15> kPaths = {
    "/inject",
    "/inject/ns-injection/enabled",
    "/inject/ns-injection/disabled",
    "/inject/ns-rev/canary",
    "/inject/ns-rev/default",
    "/inject/ns-rev/1-23-3",
    "/inject/ns-rev/1-24-1/cluster/east/net/n1",
    "/inject/ns-rev/nosuch",
    "/inject/ns-rev/canary/ns-injection/enabled",
    "/inject/ns-injection/enabled/cluster/c1/net/n2/foo/bar",
    "/inject/cluster/c1",
    "/inject/",
    "/mutate",
    "/inject/ns-rev",
    "/inject/ns-rev/1-24-1/ns-rev/1-23-3",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const RoutingTable& table = fuzz::example_table();
  static RequestScratch scratch;

  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string path;
  const std::size_t pick = data[0] % (kPaths.size() + 1);
  if (pick < kPaths.size()) {
    path = kPaths[pick];
  } else {
    const std::size_t nl = rest.find('\n');
    path = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }

  // The codec alone, on its own copy (it parses in place). A fresh string is exactly the body and
  // its NUL, so ASan reports any read past the terminator (a reused, larger buffer would hide one).
  std::string body(rest);
  {
    ReviewDocument& doc = scratch.fresh_document();
    auto parsed = parse_admission_review(body.data(), body.size(), doc);
    if (parsed) {
      const AdmissionRequest& req = *parsed;
      if (req.uid.empty()) fuzz::fail("parsed review with an empty uid", rest);
      // Views must point into the body buffer (in-situ) or at static strings; touching every byte
      // lets ASan catch a view past the end.
      volatile std::size_t sum = 0;
      for (std::string_view v :
           {req.uid, req.operation, req.namespace_, req.name, req.resource, req.sub_resource,
            req.kind.group, req.kind.version, req.kind.kind}) {
        for (char c : v) sum = sum + static_cast<unsigned char>(c);
      }
      (void)req.is_pod_create();
    }
  }

  // RapidJSON's two parsers, one of which parse_admission_review picks by the body's brackets,
  // agree on it (up to its first NUL, where in-situ parsing stops).
  if (const std::string why =
          testing::review_parsers_disagree(std::string(rest.substr(0, rest.find('\0'))));
      !why.empty()) {
    fuzz::fail(("recursive and iterative parsers disagree: " + why).c_str(), rest);
  }

  body = std::string(rest);
  const HandledRequest r = handle_admission(table, path, body.data(), body.size(), scratch);
  // A 200 must echo the uid handle_admission read; copy it first (it views the body).
  const std::string uid(r.uid);
  if (r.http_status == 200 && uid.empty()) fuzz::fail("200 answer for a review without uid", rest);
  (void)fuzz::check_answer(r, uid);
  return 0;
}
