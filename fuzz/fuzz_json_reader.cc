// Fuzzes the strict JSON pull reader against nlohmann::json as an independent RFC 8259 parser: the
// verdicts must agree (with the exceptions below), the decoded keys and strings must match, the
// reader (and json_valid, which must agree with it) must never read outside the input (it gets an
// exactly-sized heap copy, so ASan sees any overread), and every token's raw() must lie inside the
// input.
#include <cstdint>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/json_reader.h"
#include "fuzz/fuzz_support.h"
#include "tests/admission/json_reference.h"

namespace {

using namespace revrouter;
using revrouter::testing::has_surrogate_escape;
using revrouter::testing::Reference;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::unique_ptr<char[]> copy(new char[size]);
  if (size != 0) std::memcpy(copy.get(), data, size);
  const std::string_view text(copy.get(), size);
  const char* const begin = copy.get();
  const char* const end = begin + size;

  JsonReader reader(text);
  std::vector<std::string> strings;
  JsonToken t;
  for (;;) {
    t = reader.next();
    if (reader.offset() > size) fuzz::fail("offset() past the end of the input", text);
    if (t == JsonToken::kEnd || t == JsonToken::kError) break;
    const std::string_view raw = reader.raw();
    if (!raw.empty() && (raw.data() < begin || raw.data() + raw.size() > end)) {
      fuzz::fail("raw() outside the input", text);
    }
    if (reader.depth() > JsonReader::kMaxDepth) fuzz::fail("depth() above kMaxDepth", text);
    if (t == JsonToken::kString) {
      strings.emplace_back();
      decode_json_string(raw, strings.back());
    }
  }
  const bool ok = t == JsonToken::kEnd;
  if (ok != reader.error().empty()) fuzz::fail("error() does not match the verdict", text);
  if (reader.next() != t) fuzz::fail("the final token does not repeat", text);

  JsonReader again(text);
  if (again.validate() != ok) fuzz::fail("validate() disagrees with next()", text);
  if (json_valid(text) != ok) fuzz::fail("json_valid() disagrees with the reader", text);

  // Where nlohmann deliberately differs from the RFC 8259 grammar (and from Go's encoding/json,
  // which the reader follows), the verdicts are not compared or the reader's is fixed:
  //  - a \u escape of a surrogate: nlohmann rejects lone ones, which the grammar allows (skipped,
  //    conservatively also for pairs);
  //  - a NUL byte: nlohmann takes one outside a string as the end of the input; it is never valid
  //    JSON, so the reader must reject;
  //  - a leading UTF-8 byte-order mark: nlohmann skips it, RFC 8259 forbids it and Go rejects it,
  //    so the reader must reject;
  //  - a number that overflows a double (nlohmann error 406): the grammar allows it (skipped);
  //  - nesting beyond 10000 levels: nlohmann has no limit, the reader stops at Go's (skipped).
  if (has_surrogate_escape(text)) return 0;
  if (text.find('\0') != std::string_view::npos || text.substr(0, 3) == "\xEF\xBB\xBF") {
    if (ok) fuzz::fail("accepted a NUL byte or a byte-order mark", text);
    return 0;
  }
  if (!ok && reader.error() == "nested deeper than 10000 levels") return 0;
  Reference ref;
  const bool want = nlohmann::json::sax_parse(begin, end, &ref);
  if (!want && ref.error_id == 406) return 0;
  if (ok != want) {
    fuzz::fail(ok ? "accepted text nlohmann rejects" : "rejected text nlohmann accepts", text);
  }
  if (ok && strings != ref.strings) fuzz::fail("decoded strings differ from nlohmann's", text);
  return 0;
}
