#include "admission/json_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/admission/json_reference.h"
#include "tests/admission/test_util.h"

namespace revrouter {
namespace {

using namespace std::string_literals;
using revrouter::testing::has_surrogate_escape;
using revrouter::testing::json_mutation_bytes;
using revrouter::testing::mutate_json;
using revrouter::testing::read_file;
using revrouter::testing::Reference;
using revrouter::testing::repository_json_files;
using revrouter::testing::show_bytes;
using revrouter::testing::small_repository_json_texts;

// The text in a heap allocation of exactly its size, so ASan reports any read past the end.
class ExactBuffer {
 public:
  explicit ExactBuffer(std::string_view text) : size_(text.size()), data_(new char[text.size()]) {
    if (size_ != 0) std::memcpy(data_.get(), text.data(), size_);
  }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  std::size_t size_;
  std::unique_ptr<char[]> data_;
};

struct Outcome {
  bool ok;
  std::string error;
  std::size_t offset;
};

// The reader's verdict; json_valid, the one-pass validator, must reach the same one (every valid,
// invalid, depth, string-scan and differential case below goes through here). Both read an
// exactly-sized copy, so ASan reports any read past the text.
Outcome validate(std::string_view text) {
  const ExactBuffer buffer(text);
  JsonReader reader(buffer.view());
  const bool ok = reader.validate();
  EXPECT_EQ(json_valid(buffer.view()), ok)
      << "json_valid disagrees with the reader (" << reader.error() << " at " << reader.offset()
      << ") on " << show_bytes(text.substr(0, 300));
  return {ok, std::string(reader.error()), reader.offset()};
}

// --- The independent reference: nlohmann::json's parser (SAX, so it also reports the decoded
// strings and why it failed; tests/admission/json_reference.h). Where nlohmann deliberately differs
// from the RFC 8259 grammar (and from Go's encoding/json, which the reader follows), inputs are not
// compared or the expected verdict is fixed:
//  - nlohmann rejects a \u escape of a lone surrogate (U+D800..U+DFFF), which the grammar allows:
//    any text with "\u" followed by [dD][89a-fA-F] is not compared (conservatively, also paired
//    surrogates and escaped backslashes that happen to precede "uD8").
//  - nlohmann treats a NUL byte outside a string as the end of the input ("1\0x" is accepted): a
//    NUL is never valid JSON (not whitespace, not a token, a control character inside a string),
//    so with a NUL the reader must reject.
//  - nlohmann skips a leading UTF-8 byte-order mark, which RFC 8259 forbids senders to add and Go
//    rejects: with a leading EF BB BF the reader must reject.
//  - nlohmann rejects a number that overflows a double (1e400, error 406), which the grammar
//    allows: not compared.
//  - nlohmann has no depth limit, the reader stops at 10000 (Go's limit): not compared.

// The verdict the reader must reach on `t`, or nullopt when the reference does not apply.
std::optional<bool> reference_verdict(std::string_view t, const Outcome& reader) {
  if (has_surrogate_escape(t)) return std::nullopt;
  if (t.find('\0') != std::string_view::npos) return false;
  if (t.substr(0, 3) == "\xEF\xBB\xBF") return false;
  if (!reader.ok && reader.error == "nested deeper than 10000 levels") return std::nullopt;
  Reference ref;
  const bool ok = nlohmann::json::sax_parse(t.data(), t.data() + t.size(), &ref);
  if (!ok && ref.error_id == 406) return std::nullopt;  // number overflow
  return ok;
}

// The decoded keys and string values the reader sees, in document order (the text must be valid).
std::vector<std::string> reader_strings(std::string_view text) {
  const ExactBuffer buffer(text);
  JsonReader reader(buffer.view());
  std::vector<std::string> out;
  for (JsonToken t = reader.next(); t != JsonToken::kEnd && t != JsonToken::kError;
       t = reader.next()) {
    if (t != JsonToken::kString) continue;
    out.emplace_back();
    decode_json_string(reader.raw(), out.back());
  }
  return out;
}

// Checks the reader against the reference on one text; returns whether it was compared.
bool expect_agrees_with_reference(std::string_view text, const std::string& origin) {
  const Outcome got = validate(text);
  const std::optional<bool> want = reference_verdict(text, got);
  if (!want) return false;
  EXPECT_EQ(got.ok, *want) << origin << ": reader says " << (got.ok ? "valid" : got.error) << " at "
                           << got.offset << " for " << show_bytes(text.substr(0, 300));
  if (got.ok && *want) {
    Reference ref;
    nlohmann::json::sax_parse(text.data(), text.data() + text.size(), &ref);
    EXPECT_EQ(reader_strings(text), ref.strings) << origin << ": decoded strings differ";
  }
  return true;
}

// --- Valid documents (RFC 8259 grammar).

struct ValidCase {
  const char* name;
  std::string text;
};

class JsonReaderValid : public ::testing::TestWithParam<ValidCase> {};

TEST_P(JsonReaderValid, Accepts) {
  const Outcome got = validate(GetParam().text);
  EXPECT_TRUE(got.ok) << got.error << " at " << got.offset;
  EXPECT_EQ(got.error, "");
  expect_agrees_with_reference(GetParam().text, GetParam().name);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, JsonReaderValid,
    ::testing::Values(
        ValidCase{"EmptyObject", "{}"}, ValidCase{"EmptyArray", "[]"},
        ValidCase{"EmptyString", R"("")"}, ValidCase{"TopLevelNumber", "42"},
        ValidCase{"TopLevelTrue", "true"}, ValidCase{"TopLevelFalse", "false"},
        ValidCase{"TopLevelNull", "null"},
        ValidCase{"NestedObjectsAndArrays",
                  R"({"a":{"b":[1,[2,{"c":[]}],{}]},"d":[[[]]],"e":{"f":{"g":{}}}})"},
        ValidCase{"EmptyContainersInArray", "[{},[],{},[[]]]"},
        ValidCase{"EveryShortEscape", R"("\" \\ \/ \b \f \n \r \t")"},
        ValidCase{"UnicodeEscapes", R"("\u0000\u0041\u00e9\u00E9\u20ac\uFFFF")"},
        ValidCase{"SurrogatePairEscape", R"("\uD83D\uDE00")"},
        ValidCase{"LoneHighSurrogateEscape", R"("\uD800")"},
        ValidCase{"LoneLowSurrogateEscape", R"("\uDC00x")"},
        ValidCase{"ReversedSurrogatesEscape", R"("\uDC00\uD800")"},
        ValidCase{"EscapesInKey", R"({"\u0041\n\"":1})"}, ValidCase{"NegativeZero", "-0"},
        ValidCase{"ZeroFraction", "0.5"}, ValidCase{"FractionPositiveExponent", "0.5e+10"},
        ValidCase{"CapitalExponentNegative", "1E-2"}, ValidCase{"ExponentNoSign", "1e5"},
        ValidCase{"NegativeFractionExponent", "-12.340e-007"},
        ValidCase{"LongInteger", "123456789012345678901234567890"},
        ValidCase{"AllNumberForms", "[0,-0,1,-1,10,0.0,-0.0e0,1.5E+3,2e-2,9007199254740993]"},
        ValidCase{"WhitespaceEverywhere",
                  " \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ \t\r\n1 \t\r\n, \t\r\n{ } \t\r\n] "
                  "\t\r\n, \"b\" : true } \t\r\n"},
        ValidCase{"Utf8InStrings", "\"\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF\""},
        ValidCase{"Utf8Boundaries",
                  "\"\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80"
                  "\xF0\x90\x80\x80\""},
        ValidCase{"DelByteInString", "\"\x7F\""}, ValidCase{"LiteralsInArray", "[true,false,null]"},
        ValidCase{"PatchArray",
                  R"([{"op":"add","path":"/spec/containers/-","value":{"name":"istio-proxy"}},)"
                  R"({"op":"replace","path":"/metadata/labels/a~1b","value":"x"}])"},
        ValidCase{"DuplicateKeys", R"({"a":1,"a":2})"}),
    [](const auto& info) { return info.param.name; });

// --- Invalid documents: the error and where it is.

struct InvalidCase {
  const char* name;
  std::string text;
  const char* error;
  std::size_t offset;
};

class JsonReaderInvalid : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(JsonReaderInvalid, RejectsWithErrorAndOffset) {
  const Outcome got = validate(GetParam().text);
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error, GetParam().error);
  EXPECT_EQ(got.offset, GetParam().offset);
  expect_agrees_with_reference(GetParam().text, GetParam().name);
}

constexpr const char* kValue = "expected a value";
constexpr const char* kAfter = "unexpected text after the value";
constexpr const char* kArrayNext = "expected ',' or ']'";
constexpr const char* kObjectNext = "expected ',' or '}'";
constexpr const char* kName = "expected a member name in quotes";
constexpr const char* kColon = "expected ':' after a member name";
constexpr const char* kUnterminated = "unterminated string";
constexpr const char* kBadU = "invalid \\u escape: want four hex digits";
constexpr const char* kBadEscape = "invalid escape in string";
constexpr const char* kControl = "control character in string";
constexpr const char* kUtf8 = "invalid UTF-8 in string";
constexpr const char* kDigit = "expected a digit";
constexpr const char* kFraction = "expected a digit after '.'";
constexpr const char* kExponent = "expected a digit in the exponent";

INSTANTIATE_TEST_SUITE_P(
    Rules, JsonReaderInvalid,
    ::testing::Values(
        InvalidCase{"LeadingZero", "01", kAfter, 1},
        InvalidCase{"NegativeLeadingZero", "-01", kAfter, 2},
        InvalidCase{"LeadingZeroInArray", "[01]", kArrayNext, 2},
        InvalidCase{"FractionWithoutDigits", "1.", kFraction, 2},
        InvalidCase{"FractionThenExponent", "1.e5", kFraction, 2},
        InvalidCase{"MinusAlone", "-", kDigit, 1}, InvalidCase{"MinusThenLetter", "-a", kDigit, 1},
        InvalidCase{"MinusInfinity", "-Infinity", kDigit, 1},
        InvalidCase{"LeadingDot", ".5", kValue, 0}, InvalidCase{"PlusSign", "+1", kValue, 0},
        InvalidCase{"ExponentWithoutDigits", "1e", kExponent, 2},
        InvalidCase{"ExponentSignWithoutDigits", "1e+", kExponent, 3},
        InvalidCase{"ExponentThenLetter", "1Ex", kExponent, 2},
        InvalidCase{"HexNumber", "0x10", kAfter, 1}, InvalidCase{"NaN", "NaN", kValue, 0},
        InvalidCase{"TrailingCommaInArray", "[1,]", kValue, 3},
        InvalidCase{"TrailingCommaInObject", R"({"a":1,})", kName, 7},
        InvalidCase{"OnlyCommaInArray", "[,]", kValue, 1},
        InvalidCase{"DoubleComma", "[1,,2]", kValue, 3},
        InvalidCase{"MissingCommaInArray", "[1 2]", kArrayNext, 3},
        InvalidCase{"MissingCommaInObject", R"({"a":1 "b":2})", kObjectNext, 7},
        InvalidCase{"ColonInArray", "[1:2]", kArrayNext, 2},
        InvalidCase{"MissingColon", R"({"a" 1})", kColon, 5},
        InvalidCase{"MissingValue", R"({"a":})", kValue, 5},
        InvalidCase{"KeyWithoutValueAtEnd", R"({"a")", kColon, 4},
        InvalidCase{"UnquotedKey", "{a:1}", kName, 1}, InvalidCase{"NumberKey", "{1:2}", kName, 1},
        InvalidCase{"SingleQuotedString", "'a'", kValue, 0},
        InvalidCase{"SingleQuotedKey", "{'a':1}", kName, 1},
        InvalidCase{"TabInString", "\"a\tb\"", kControl, 2},
        InvalidCase{"NewlineInString", "[\"a\nb\"]", kControl, 3},
        InvalidCase{"UnitSeparatorInKey", "{\"\x1F\":1}", kControl, 2},
        InvalidCase{"InvalidEscapeX", R"("\x41")", kBadEscape, 1},
        InvalidCase{"InvalidEscapeCapitalU", R"("\U0041")", kBadEscape, 1},
        InvalidCase{"InvalidEscapeQuoteSingle", R"("\'")", kBadEscape, 1},
        InvalidCase{"ShortUnicodeEscape", R"("\u12")", kBadU, 1},
        InvalidCase{"ShortUnicodeEscapeAtEnd", R"("ab\u12)", kBadU, 3},
        InvalidCase{"NonHexUnicodeEscape", R"("\u12G4")", kBadU, 1},
        InvalidCase{"OverlongC080", "\"\xC0\x80\"", kUtf8, 1},
        InvalidCase{"OverlongC1", "\"\xC1\xBF\"", kUtf8, 1},
        InvalidCase{"OverlongThreeByte", "\"\xE0\x9F\xBF\"", kUtf8, 1},
        InvalidCase{"OverlongFourByte", "\"\xF0\x8F\xBF\xBF\"", kUtf8, 1},
        InvalidCase{"EncodedSurrogate", "\"\xED\xA0\x80\"", kUtf8, 1},
        InvalidCase{"EncodedLowSurrogate", "\"x\xED\xBF\xBF\"", kUtf8, 2},
        InvalidCase{"AboveMaxCodePoint", "\"\xF4\x90\x80\x80\"", kUtf8, 1},
        InvalidCase{"LeadByteF5", "\"\xF5\x80\x80\x80\"", kUtf8, 1},
        InvalidCase{"ByteFF", "\"\xFF\"", kUtf8, 1},
        InvalidCase{"LoneContinuationByte", "\"\x80\"", kUtf8, 1},
        InvalidCase{"ContinuationMissing", "\"\xE2\x82x\"", kUtf8, 1},
        InvalidCase{"TruncatedTwoByteAtEnd", "\"\xC3", kUtf8, 1},
        InvalidCase{"TruncatedThreeByteAtEnd", "\"ab\xE2\x82", kUtf8, 3},
        InvalidCase{"TruncatedFourByteAtEnd", "\"\xF0\x9F\x98", kUtf8, 1},
        InvalidCase{"TruncatedBeforeQuote", "\"\xF0\x9F\x98\"", kUtf8, 1},
        InvalidCase{"Utf8OutsideString", "\xC3\xA9", kValue, 0},
        InvalidCase{"UnterminatedString", "\"abc", kUnterminated, 0},
        InvalidCase{"UnterminatedEmptyString", "\"", kUnterminated, 0},
        InvalidCase{"UnterminatedAfterEscapedQuote", "[\"a\\\"", kUnterminated, 1},
        // The string starts at 1; the text ends in the backslash of an escape.
        InvalidCase{"UnterminatedAfterBackslash", "[\"a\\", kUnterminated, 1},
        InvalidCase{"UnterminatedKey", "{\"a", kUnterminated, 1},
        InvalidCase{"TruncatedTrue", "tru", kValue, 0},
        InvalidCase{"TruncatedNull", "nul", kValue, 0},
        InvalidCase{"TruncatedFalseInArray", "[fals", kValue, 1},
        InvalidCase{"MisspelledNull", "nulL", kValue, 0},
        InvalidCase{"CapitalTrue", "True", kValue, 0},
        InvalidCase{"LiteralThenLetter", "truex", kAfter, 4},
        InvalidCase{"TextAfterObject", "{} x", kAfter, 3},
        InvalidCase{"TwoNumbers", "1 2", kAfter, 2}, InvalidCase{"TwoObjects", "{}{}", kAfter, 2},
        InvalidCase{"EmptyText", "", kValue, 0},
        InvalidCase{"OnlyWhitespace", " \t\r\n", kValue, 4},
        InvalidCase{"FormFeedIsNotWhitespace", "\f1", kValue, 0},
        InvalidCase{"ByteOrderMark", "\xEF\xBB\xBF{}", kValue, 0},
        InvalidCase{"Comment", "/*x*/1", kValue, 0}, InvalidCase{"NulAsValue", "\0"s, kValue, 0},
        InvalidCase{"NulAfterValue", "1\0"s, kAfter, 1},
        InvalidCase{"NulBeforeValue", "\0 1"s, kValue, 0},
        InvalidCase{"NulInArray", "[1,\0]"s, kValue, 3},
        InvalidCase{"NulInString", "\"a\0b\""s, kControl, 2},
        InvalidCase{"NulInKey", "{\"\0\":1}"s, kControl, 2},
        InvalidCase{"UnclosedArray", "[1", kArrayNext, 2},
        InvalidCase{"UnclosedObject", R"({"a":1)", kObjectNext, 6},
        InvalidCase{"UnclosedEmptyArray", "[", kValue, 1},
        InvalidCase{"UnclosedEmptyObject", "{ ", kName, 2},
        InvalidCase{"ArrayClosedByBrace", "[}", kValue, 1},
        InvalidCase{"ArrayClosedByBraceAfterElement", "[1}", kArrayNext, 2},
        InvalidCase{"ObjectClosedByBracket", R"({"a":1])", kObjectNext, 6},
        InvalidCase{"EmptyObjectClosedByBracket", "{]", kName, 1},
        InvalidCase{"CrossedBrackets", "[{]}", kName, 2},
        InvalidCase{"CloseWithoutOpen", "]", kValue, 0},
        InvalidCase{"CloseAfterValue", "1]", kAfter, 1}),
    [](const auto& info) { return info.param.name; });

// --- The eight-byte string scan: every string length and position of a special byte, at every
// alignment of the string against the end of the buffer.

struct Layout {
  const char* name;
  std::string before;         // text before the string's opening quote (whitespace is added)
  std::string after;          // text after its closing quote
  const char* early_end;      // the error when a '"' ends the string early
  std::size_t tokens_before;  // tokens the reader returns before the string
};

const Layout kLayouts[] = {
    {"TopLevel", "", "", kAfter, 0},
    {"ArrayElement", "[", "]", kArrayNext, 1},
    {"ObjectKey", "{", ":0}", kColon, 1},
};

struct SpecialCase {
  const char* name;
  std::string bytes;  // inserted into a string of 'a's
  const char* error;  // nullptr: the string stays valid; kAfter: a '"' ends it early
  bool escaped;
};

class JsonReaderStringScan : public ::testing::TestWithParam<SpecialCase> {};

TEST_P(JsonReaderStringScan, EveryLengthPositionAndAlignment) {
  const SpecialCase& special = GetParam();
  for (const Layout& layout : kLayouts) {
    for (std::size_t pad = 0; pad < 8; ++pad) {
      for (std::size_t len = 0; len <= 40; ++len) {
        for (std::size_t pos = 0; pos <= len; ++pos) {
          const std::string body =
              std::string(pos, 'a') + special.bytes + std::string(len - pos, 'a');
          const std::string head = layout.before + std::string(pad, ' ');
          const std::string text = head + '"' + body + '"' + layout.after;
          const std::size_t quote = head.size();
          const std::size_t at = quote + 1 + pos;
          SCOPED_TRACE(std::string(layout.name) + " text " + show_bytes(text));
          const ExactBuffer buffer(text);
          JsonReader reader(buffer.view());
          for (std::size_t i = 0; i < layout.tokens_before; ++i) reader.next();
          const JsonToken t = reader.next();
          const bool quote_ends_early = special.bytes == "\"";
          if (quote_ends_early && layout.tokens_before == 1 && layout.after[0] == ':') {
            // A key's token includes its ':' check.
            ASSERT_EQ(t, JsonToken::kError);
            EXPECT_EQ(reader.error(), layout.early_end);
            EXPECT_EQ(reader.offset(), at + 1);
            EXPECT_FALSE(json_valid(buffer.view()));
            continue;
          }
          if (special.error != nullptr && !quote_ends_early) {
            ASSERT_EQ(t, JsonToken::kError);
            EXPECT_EQ(reader.error(), special.error);
            EXPECT_EQ(reader.offset(), at);
            EXPECT_FALSE(json_valid(buffer.view()));
            continue;
          }
          ASSERT_EQ(t, JsonToken::kString) << reader.error() << " at " << reader.offset();
          EXPECT_EQ(reader.offset(), quote);
          EXPECT_EQ(reader.raw(), quote_ends_early ? std::string(pos, 'a') : body);
          EXPECT_EQ(reader.raw().data(), buffer.view().data() + quote + 1);
          EXPECT_EQ(reader.escaped(), special.escaped);
          const Outcome whole = validate(text);
          if (quote_ends_early) {
            EXPECT_FALSE(whole.ok);
            EXPECT_EQ(whole.error, layout.early_end);
            EXPECT_EQ(whole.offset, at + 1);
          } else {
            EXPECT_TRUE(whole.ok) << whole.error << " at " << whole.offset;
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Specials, JsonReaderStringScan,
    ::testing::Values(SpecialCase{"None", "", nullptr, false},
                      SpecialCase{"QuoteEndsEarly", "\"", kAfter, false},
                      SpecialCase{"EscapeNewline", "\\n", nullptr, true},
                      SpecialCase{"EscapeQuote", "\\\"", nullptr, true},
                      SpecialCase{"EscapeBackslash", "\\\\", nullptr, true},
                      SpecialCase{"EscapeUnicode", "\\u00e9", nullptr, true},
                      SpecialCase{"InvalidEscape", "\\x", kBadEscape, false},
                      SpecialCase{"ShortUnicodeEscape", "\\u0g00", kBadU, false},
                      SpecialCase{"ControlByte1F", "\x1F", kControl, false},
                      SpecialCase{"ControlByteNul", "\0"s, kControl, false},
                      SpecialCase{"DelByte7F", "\x7F", nullptr, false},
                      SpecialCase{"Utf8TwoBytes", "\xC3\xA9", nullptr, false},
                      SpecialCase{"Utf8ThreeBytes", "\xE2\x82\xAC", nullptr, false},
                      SpecialCase{"Utf8FourBytes", "\xF0\x9F\x98\x80", nullptr, false},
                      SpecialCase{"InvalidByteFF", "\xFF", kUtf8, false},
                      SpecialCase{"LoneContinuation", "\x80", kUtf8, false},
                      SpecialCase{"TruncatedUtf8", "\xE2\x82", kUtf8, false},
                      SpecialCase{"EncodedSurrogate", "\xED\xA0\x80", kUtf8, false}),
    [](const auto& info) { return info.param.name; });

// Arrays of many strings of 0 to 150 bytes, so that strings start, end and hold their special
// bytes on both sides of the 64-byte blocks the scan classifies at once, with and without one
// invalid byte somewhere. validate() also asks json_valid.
TEST(JsonReaderStringScan, ManyStringsAcrossScanBlocks) {
  const std::string valid_specials[] = {"\\n", "\\\"", "\\u00e9", "\xC3\xA9", "\xF0\x9F\x98\x80",
                                        "\x7F"};
  const std::string invalid_specials[] = {"\x1F", "\xFF", "\\x", "\xE2\x82"};
  std::mt19937 rng(20261126);
  std::size_t rejected = 0;
  for (int doc = 0; doc < 300; ++doc) {
    const bool spoil = doc % 3 == 0;
    const int strings = 1 + static_cast<int>(rng() % 12);
    const int spoiled = spoil ? static_cast<int>(rng() % static_cast<unsigned>(strings)) : -1;
    std::string text = "[";
    for (int i = 0; i < strings; ++i) {
      if (i > 0) text += rng() % 2 ? "," : " , ";
      std::string body(rng() % 151, 'a');
      // The invalid byte goes among plain 'a's (next to a valid special it could complete one).
      if (i == spoiled) {
        body.insert(rng() % (body.size() + 1), invalid_specials[rng() % 4]);
      } else if (!body.empty() && rng() % 2) {
        body.insert(rng() % body.size(), valid_specials[rng() % std::size(valid_specials)]);
      }
      text += '"' + body + '"';
    }
    text += "]";
    SCOPED_TRACE(show_bytes(text));
    const Outcome got = validate(text);
    EXPECT_EQ(got.ok, !spoil) << got.error << " at " << got.offset;
    rejected += got.ok ? 0 : 1;
  }
  EXPECT_EQ(rejected, 100u);
}

// A string that runs to the end of the buffer without its closing quote, at every length and
// alignment; the error points at the opening quote.
TEST(JsonReaderStringScan, UnterminatedAtBufferEndEveryLength) {
  for (std::size_t pad = 0; pad < 8; ++pad) {
    for (std::size_t len = 0; len <= 20; ++len) {
      for (const std::string& head :
           {std::string(pad, ' '), "[" + std::string(pad, ' '), "{" + std::string(pad, ' ')}) {
        const std::string text = head + '"' + std::string(len, 'a');
        SCOPED_TRACE(show_bytes(text));
        const Outcome got = validate(text);
        EXPECT_FALSE(got.ok);
        EXPECT_EQ(got.error, kUnterminated);
        EXPECT_EQ(got.offset, head.size());
      }
    }
  }
}

// The same, with the text ending inside an escape or a UTF-8 sequence (still reads nothing
// beyond the buffer; ASan checks that).
TEST(JsonReaderStringScan, EndsInsideEscapeOrSequenceEveryLength) {
  struct Tail {
    const char* bytes;
    const char* error;
  };
  const Tail tails[] = {{"\\\"", kUnterminated}, {"\\u", kBadU},      {"\\u00e", kBadU},
                        {"\xC3", kUtf8},         {"\xE2\x82", kUtf8}, {"\xF0\x9F\x98", kUtf8}};
  for (const Tail& tail : tails) {
    for (std::size_t len = 0; len <= 20; ++len) {
      const std::string text = "\"" + std::string(len, 'a') + tail.bytes;
      SCOPED_TRACE(show_bytes(text));
      const Outcome got = validate(text);
      EXPECT_FALSE(got.ok);
      EXPECT_EQ(got.error, tail.error);
      EXPECT_EQ(got.offset, tail.error == kUnterminated ? 0 : len + 1);
    }
  }
}

// --- The token stream.

struct Token {
  JsonToken token;
  std::string raw;
  bool escaped;
  bool key;
  std::size_t depth;
  std::size_t offset;
};

TEST(JsonReaderTokens, RepresentativeDocument) {
  // Offsets:  0         1         2         3         4         5         6         7         8
  //           012345678901234567890123456789012345678901234567890123456789012345678901234567890123456
  const std::string doc =
      R"({"a":[1,-2.5e3,"x\"y"],"b":{},"c":[ ],"d":{"e":null,"f":true,"g":false},"h":"\u00e9"})";
  using T = JsonToken;
  const std::vector<Token> want = {
      {T::kObjectBegin, "", false, false, 1, 0},  {T::kString, "a", false, true, 1, 1},
      {T::kArrayBegin, "", false, false, 2, 5},   {T::kNumber, "1", false, false, 2, 6},
      {T::kNumber, "-2.5e3", false, false, 2, 8}, {T::kString, R"(x\"y)", true, false, 2, 15},
      {T::kArrayEnd, "", false, false, 1, 21},    {T::kString, "b", false, true, 1, 23},
      {T::kObjectBegin, "", false, false, 2, 27}, {T::kObjectEnd, "", false, false, 1, 28},
      {T::kString, "c", false, true, 1, 30},      {T::kArrayBegin, "", false, false, 2, 34},
      {T::kArrayEnd, "", false, false, 1, 36},    {T::kString, "d", false, true, 1, 38},
      {T::kObjectBegin, "", false, false, 2, 42}, {T::kString, "e", false, true, 2, 43},
      {T::kNull, "null", false, false, 2, 47},    {T::kString, "f", false, true, 2, 52},
      {T::kTrue, "true", false, false, 2, 56},    {T::kString, "g", false, true, 2, 61},
      {T::kFalse, "false", false, false, 2, 65},  {T::kObjectEnd, "", false, false, 1, 70},
      {T::kString, "h", false, true, 1, 72},      {T::kString, R"(\u00e9)", true, false, 1, 76},
      {T::kObjectEnd, "", false, false, 0, 84},   {T::kEnd, "", false, false, 0, 85},
  };
  const ExactBuffer buffer(doc);
  JsonReader reader(buffer.view());
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("token " + std::to_string(i));
    ASSERT_EQ(reader.next(), want[i].token) << reader.error() << " at " << reader.offset();
    EXPECT_EQ(reader.raw(), want[i].raw);
    EXPECT_EQ(reader.escaped(), want[i].escaped);
    EXPECT_EQ(reader.is_key(), want[i].key);
    EXPECT_EQ(reader.depth(), want[i].depth);
    EXPECT_EQ(reader.offset(), want[i].offset);
    EXPECT_EQ(reader.error(), "");
  }
  EXPECT_EQ(reader.next(), JsonToken::kEnd);  // kEnd repeats
}

TEST(JsonReaderTokens, WhitespaceDoesNotMoveOffsetsOffTokens) {
  const std::string doc = " \n[ \"k\" ,\t{ \"x\" :\r 12 } ] ";
  const ExactBuffer buffer(doc);
  JsonReader reader(buffer.view());
  const std::vector<std::pair<JsonToken, std::size_t>> want = {
      {JsonToken::kArrayBegin, 2}, {JsonToken::kString, 4},  {JsonToken::kObjectBegin, 10},
      {JsonToken::kString, 12},    {JsonToken::kNumber, 19}, {JsonToken::kObjectEnd, 22},
      {JsonToken::kArrayEnd, 24},  {JsonToken::kEnd, 26}};
  for (const auto& [token, offset] : want) {
    ASSERT_EQ(reader.next(), token);
    EXPECT_EQ(reader.offset(), offset);
  }
}

// --- skip_value.

TEST(JsonReaderSkipValue, SkipsContainersAndScalarsMidDocument) {
  const std::string doc = R"([{"a":[1,{"b":2}],"c":"d"},[[],[3]],"s",4,{"k":[5,[6]],"z":7}])";
  const ExactBuffer buffer(doc);
  JsonReader reader(buffer.view());
  ASSERT_EQ(reader.next(), JsonToken::kArrayBegin);
  ASSERT_EQ(reader.next(), JsonToken::kObjectBegin);
  EXPECT_EQ(reader.skip_value(JsonToken::kObjectBegin), JsonToken::kObjectBegin);
  EXPECT_EQ(reader.depth(), 1u);
  ASSERT_EQ(reader.next(), JsonToken::kArrayBegin);
  EXPECT_EQ(reader.offset(), doc.find("[[]"));
  EXPECT_EQ(reader.skip_value(JsonToken::kArrayBegin), JsonToken::kArrayBegin);
  EXPECT_EQ(reader.depth(), 1u);
  ASSERT_EQ(reader.next(), JsonToken::kString);
  EXPECT_EQ(reader.raw(), "s");
  EXPECT_EQ(reader.skip_value(JsonToken::kString), JsonToken::kString);
  ASSERT_EQ(reader.next(), JsonToken::kNumber);
  EXPECT_EQ(reader.skip_value(JsonToken::kNumber), JsonToken::kNumber);
  EXPECT_EQ(reader.raw(), "4");
  ASSERT_EQ(reader.next(), JsonToken::kObjectBegin);
  ASSERT_EQ(reader.next(), JsonToken::kString);
  EXPECT_TRUE(reader.is_key());
  EXPECT_EQ(reader.raw(), "k");
  ASSERT_EQ(reader.next(), JsonToken::kArrayBegin);
  EXPECT_EQ(reader.skip_value(JsonToken::kArrayBegin), JsonToken::kArrayBegin);
  EXPECT_EQ(reader.depth(), 2u);
  ASSERT_EQ(reader.next(), JsonToken::kString);
  EXPECT_TRUE(reader.is_key());
  EXPECT_EQ(reader.raw(), "z");
  ASSERT_EQ(reader.next(), JsonToken::kNumber);
  EXPECT_EQ(reader.raw(), "7");
  ASSERT_EQ(reader.next(), JsonToken::kObjectEnd);
  ASSERT_EQ(reader.next(), JsonToken::kArrayEnd);
  EXPECT_EQ(reader.depth(), 0u);
  EXPECT_EQ(reader.next(), JsonToken::kEnd);
}

struct SkipCase {
  const char* name;
  std::string doc;  // skip_value is called on the first token
  JsonToken want;   // what skip_value returns
  JsonToken then;   // what next() returns after it
  const char* error;
};

class JsonReaderSkipTopLevel : public ::testing::TestWithParam<SkipCase> {};

TEST_P(JsonReaderSkipTopLevel, SkipsTheWholeValue) {
  const ExactBuffer buffer(GetParam().doc);
  JsonReader reader(buffer.view());
  const JsonToken first = reader.next();
  EXPECT_EQ(reader.skip_value(first), GetParam().want);
  EXPECT_EQ(reader.next(), GetParam().then);
  EXPECT_EQ(reader.error(), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, JsonReaderSkipTopLevel,
    ::testing::Values(
        SkipCase{"Object", R"({"a":{"b":[{}]}} )", JsonToken::kObjectBegin, JsonToken::kEnd, ""},
        SkipCase{"Array", "[[1],[[2]],{}]", JsonToken::kArrayBegin, JsonToken::kEnd, ""},
        SkipCase{"EmptyArray", "[]", JsonToken::kArrayBegin, JsonToken::kEnd, ""},
        SkipCase{"Scalar", "true", JsonToken::kTrue, JsonToken::kEnd, ""},
        SkipCase{"TrailingText", "[1] 2", JsonToken::kArrayBegin, JsonToken::kError, kAfter},
        SkipCase{"InvalidInside", "[1,{\"a\":x}]", JsonToken::kError, JsonToken::kError, kValue},
        SkipCase{"Unclosed", "{\"a\":[1]", JsonToken::kError, JsonToken::kError, kObjectNext}),
    [](const auto& info) { return info.param.name; });

// --- Depth.

TEST(JsonReaderDepth, TenThousandArraysAreValid) {
  const std::size_t n = JsonReader::kMaxDepth;
  const std::string text = std::string(n, '[') + std::string(n, ']');
  const ExactBuffer buffer(text);
  JsonReader reader(buffer.view());
  std::size_t deepest = 0;
  for (JsonToken t = reader.next(); t != JsonToken::kEnd; t = reader.next()) {
    ASSERT_NE(t, JsonToken::kError) << reader.error() << " at " << reader.offset();
    deepest = std::max(deepest, reader.depth());
  }
  EXPECT_EQ(deepest, 10000u);
  EXPECT_TRUE(json_valid(buffer.view()));
}

TEST(JsonReaderDepth, TenThousandAndOneArraysFail) {
  const std::size_t n = JsonReader::kMaxDepth + 1;
  const Outcome got = validate(std::string(n, '[') + std::string(n, ']'));
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error, "nested deeper than 10000 levels");
  EXPECT_EQ(got.offset, 10000u);
}

TEST(JsonReaderDepth, ObjectsCountTowardTheLimit) {
  auto nested = [](std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += R"({"k":)";
    return s + "0" + std::string(n, '}');
  };
  EXPECT_TRUE(validate(nested(10000)).ok);
  const Outcome got = validate(nested(10001));
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error, "nested deeper than 10000 levels");
  EXPECT_EQ(got.offset, 5u * 10000u);
}

// Mixed nesting of depth 100 (the kinds cross 64-bit words of the reader's stack); closing with
// the wrong kind at any level fails there.
TEST(JsonReaderDepth, MixedNestingClosesWithTheRightKind) {
  const std::size_t n = 100;
  std::mt19937 rng(7);
  std::vector<bool> object(n);
  for (std::size_t i = 0; i < n; ++i) object[i] = (rng() & 1) != 0;
  auto build = [&](std::size_t wrong_level) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += object[i] ? R"({"k":)" : "[";
    s += "0";
    for (std::size_t i = n; i-- > 0;) {
      const bool as_object = object[i] != (i == wrong_level);
      s += as_object ? '}' : ']';
    }
    return s;
  };
  const std::string right = build(n);
  const Outcome ok = validate(right);
  EXPECT_TRUE(ok.ok) << ok.error << " at " << ok.offset;
  EXPECT_TRUE(nlohmann::json::accept(right));
  for (std::size_t level = 0; level < n; ++level) {
    const std::string text = build(level);
    SCOPED_TRACE("wrong close at level " + std::to_string(level));
    const Outcome got = validate(text);
    EXPECT_FALSE(got.ok);
    EXPECT_EQ(got.error, object[level] ? kObjectNext : kArrayNext);
    EXPECT_EQ(got.offset, right.size() - 1 - level);
    EXPECT_FALSE(nlohmann::json::accept(text));
  }
}

// --- After an error, every call returns kError again with the same error and offset.

class JsonReaderStickyError : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(JsonReaderStickyError, ErrorRepeats) {
  const ExactBuffer buffer(GetParam().text);
  JsonReader reader(buffer.view());
  JsonToken t = reader.next();
  while (t != JsonToken::kError && t != JsonToken::kEnd) t = reader.next();
  ASSERT_EQ(t, JsonToken::kError);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(reader.next(), JsonToken::kError);
    EXPECT_EQ(reader.error(), GetParam().error);
    EXPECT_EQ(reader.offset(), GetParam().offset);
    EXPECT_EQ(reader.raw(), "");
  }
  EXPECT_EQ(reader.skip_value(JsonToken::kArrayBegin), JsonToken::kError);
  EXPECT_FALSE(reader.validate());
  EXPECT_EQ(reader.error(), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(Rules, JsonReaderStickyError,
                         ::testing::Values(InvalidCase{"AfterValues", R"([1,"a",{"b":x}])", kValue,
                                                       12},
                                           InvalidCase{"AfterTopLevelValue", "{} x", kAfter, 3},
                                           InvalidCase{"InString", "[\"a\x01\"]", kControl, 3},
                                           InvalidCase{"AtStart", "", kValue, 0}),
                         [](const auto& info) { return info.param.name; });

// --- decode_json_string.

struct DecodeCase {
  const char* name;
  std::string raw;
  std::string want;
};

class JsonDecodeString : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(JsonDecodeString, DecodesAsGo) {
  // The raw text comes from the reader, so it is a valid string.
  const std::string quoted = "\"" + GetParam().raw + "\"";
  const ExactBuffer buffer(quoted);
  JsonReader reader(buffer.view());
  ASSERT_EQ(reader.next(), JsonToken::kString) << reader.error();
  ASSERT_EQ(reader.raw(), GetParam().raw);
  std::string out = "prefix:";
  decode_json_string(reader.raw(), out);
  EXPECT_EQ(show_bytes(out), show_bytes("prefix:" + GetParam().want));
}

// In place, in an exactly-sized buffer: the decoded text starts at the buffer and fits in it.
TEST_P(JsonDecodeString, DecodesInPlaceAsGo) {
  const std::string& raw = GetParam().raw;
  const std::unique_ptr<char[]> buffer(new char[raw.size()]);
  if (!raw.empty()) std::memcpy(buffer.get(), raw.data(), raw.size());
  const std::string_view got = decode_json_string_in_place(buffer.get(), raw.size());
  EXPECT_EQ(got.data(), buffer.get());
  EXPECT_LE(got.size(), raw.size());
  EXPECT_EQ(show_bytes(got), show_bytes(GetParam().want));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, JsonDecodeString,
    ::testing::Values(
        DecodeCase{"Empty", "", ""}, DecodeCase{"Plain", "abc", "abc"},
        DecodeCase{"Utf8PassesThrough", "\xC3\xA9\xF0\x9F\x98\x80", "\xC3\xA9\xF0\x9F\x98\x80"},
        DecodeCase{"Quote", R"(\")", "\""}, DecodeCase{"Backslash", R"(\\)", "\\"},
        DecodeCase{"Slash", R"(\/)", "/"}, DecodeCase{"Backspace", R"(\b)", "\b"},
        DecodeCase{"FormFeed", R"(\f)", "\f"}, DecodeCase{"Newline", R"(\n)", "\n"},
        DecodeCase{"CarriageReturn", R"(\r)", "\r"}, DecodeCase{"Tab", R"(\t)", "\t"},
        DecodeCase{"EscapesBetweenText", R"(a\nb\tc\\d)", "a\nb\tc\\d"},
        DecodeCase{"UnicodeNul", R"(\u0000)", "\0"s}, DecodeCase{"UnicodeAscii", R"(\u0041)", "A"},
        DecodeCase{"UnicodeLastOneByte", R"(\u007F)", "\x7F"},
        DecodeCase{"UnicodeFirstTwoByte", R"(\u0080)", "\xC2\x80"},
        DecodeCase{"UnicodeTwoByteLower", R"(\u00e9)", "\xC3\xA9"},
        DecodeCase{"UnicodeTwoByteUpper", R"(\u00E9)", "\xC3\xA9"},
        DecodeCase{"UnicodeLastTwoByte", R"(\u07FF)", "\xDF\xBF"},
        DecodeCase{"UnicodeFirstThreeByte", R"(\u0800)", "\xE0\xA0\x80"},
        DecodeCase{"UnicodeEuro", R"(\u20AC)", "\xE2\x82\xAC"},
        DecodeCase{"UnicodeBeforeSurrogates", R"(\uD7FF)", "\xED\x9F\xBF"},
        DecodeCase{"UnicodeAfterSurrogates", R"(\uE000)", "\xEE\x80\x80"},
        DecodeCase{"UnicodeLastBmp", R"(\uFFFF)", "\xEF\xBF\xBF"},
        DecodeCase{"SurrogatePair", R"(\uD83D\uDE00)", "\xF0\x9F\x98\x80"},
        DecodeCase{"SurrogatePairLowercase", R"(\ud83d\ude00)", "\xF0\x9F\x98\x80"},
        DecodeCase{"FirstSurrogatePair", R"(\uD800\uDC00)", "\xF0\x90\x80\x80"},
        DecodeCase{"LastSurrogatePair", R"(\uDBFF\uDFFF)", "\xF4\x8F\xBF\xBF"},
        DecodeCase{"LoneHighAtEnd", R"(\uD800)", "\xEF\xBF\xBD"},
        DecodeCase{"LoneHighThenText", R"(\uD800xyz)", "\xEF\xBF\xBDxyz"},
        DecodeCase{"LoneHighThenShortEscape", R"(\uDBFF\n)", "\xEF\xBF\xBD\n"},
        DecodeCase{"LoneLow", R"(\uDC00)", "\xEF\xBF\xBD"},
        DecodeCase{"LowThenHigh", R"(\uDC00\uD800)", "\xEF\xBF\xBD\xEF\xBF\xBD"},
        DecodeCase{"HighThenNonSurrogateEscape", R"(\uD800\u0041)",
                   "\xEF\xBF\xBD"
                   "A"},
        DecodeCase{"HighThenHighThenLow", R"(\uD800\uD800\uDC00)", "\xEF\xBF\xBD\xF0\x90\x80\x80"},
        DecodeCase{"PairThenLoneLow", R"(\uD83D\uDE00\uDE00)", "\xF0\x9F\x98\x80\xEF\xBF\xBD"}),
    [](const auto& info) { return info.param.name; });

// --- json_type_name.

struct TypeNameCase {
  const char* name;
  std::string doc;  // the first token is named
  const char* want;
};

class JsonTypeName : public ::testing::TestWithParam<TypeNameCase> {};

TEST_P(JsonTypeName, NamesTheValueStartingWithTheToken) {
  const ExactBuffer buffer(GetParam().doc);
  JsonReader reader(buffer.view());
  EXPECT_EQ(json_type_name(reader.next()), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(Rules, JsonTypeName,
                         ::testing::Values(TypeNameCase{"Object", "{}", "an object"},
                                           TypeNameCase{"Array", "[]", "an array"},
                                           TypeNameCase{"String", R"("s")", "a string"},
                                           TypeNameCase{"Number", "-1.5", "a number"},
                                           TypeNameCase{"True", "true", "a boolean"},
                                           TypeNameCase{"False", "false", "a boolean"},
                                           TypeNameCase{"Null", "null", "null"},
                                           TypeNameCase{"Error", "x", "not a value"}),
                         [](const auto& info) { return info.param.name; });

TEST(JsonTypeName, NonValueTokensAreNotValues) {
  for (const JsonToken t :
       {JsonToken::kObjectEnd, JsonToken::kArrayEnd, JsonToken::kEnd, JsonToken::kError}) {
    EXPECT_EQ(json_type_name(t), "not a value");
  }
}

// --- Differential against nlohmann::json over the repository's JSON files and mutations of them.

TEST(JsonReaderDifferential, AgreesWithNlohmannOnRepositoryFiles) {
  const auto files = repository_json_files();
  ASSERT_GE(files.size(), 50u) << "expected the repository's JSON test files";
  std::size_t compared = 0, valid = 0;
  for (const auto& path : files) {
    const std::string text = read_file(path);
    if (expect_agrees_with_reference(text, path.string())) ++compared;
    if (validate(text).ok) ++valid;
  }
  EXPECT_GE(compared, files.size() * 9 / 10);
  EXPECT_GE(valid, files.size() * 9 / 10);
}

TEST(JsonReaderDifferential, AgreesWithNlohmannOnMutations) {
  // Small files only, so a few thousand mutations stay fast under ASan.
  const std::vector<std::string> bases = small_repository_json_texts();
  ASSERT_GE(bases.size(), 20u);
  const std::string& interesting = json_mutation_bytes();
  std::mt19937 rng(20240611);
  std::size_t compared = 0, accepted = 0, rejected = 0;
  const int kMutations = 4000;
  for (int i = 0; i < kMutations; ++i) {
    std::string text = bases[rng() % bases.size()];
    mutate_json(text, interesting, rng);
    if (expect_agrees_with_reference(text, "mutation " + std::to_string(i))) {
      ++compared;
      (validate(text).ok ? accepted : rejected) += 1;
    }
  }
  EXPECT_GE(compared, 3500u);
  // Both verdicts occur often enough for the comparison to mean something.
  EXPECT_GE(accepted, 100u);
  EXPECT_GE(rejected, 1000u);
}

}  // namespace
}  // namespace revrouter
