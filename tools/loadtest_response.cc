#include "tools/loadtest_response.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <cstring>

namespace revrouter::loadtest {

namespace {

// Watches the SAX events for response.uid, response.allowed and response.status.message.
class ReviewHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ReviewHandler> {
 public:
  explicit ReviewHandler(std::string_view uid) : want_uid_(uid) {}

  bool Default() {
    after_value();
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (at_response_field(Field::kUid)) {
      has_uid_ = true;
      uid_matches_ = std::string_view(s, n) == want_uid_;
      if (!uid_matches_) got_uid_.assign(s, std::min<std::size_t>(n, 80));
    } else if (depth_ == 3 && in_response_ && in_status_ && key_ == Field::kMessage) {
      message_.assign(s, std::min<std::size_t>(n, 200));
    }
    after_value();
    return true;
  }
  bool Bool(bool b) {
    if (at_response_field(Field::kAllowed)) {
      has_allowed_ = true;
      allowed_ = b;
    }
    after_value();
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view k(s, n);
    key_ = Field::kOther;
    if (depth_ == 1 && k == "response") key_ = Field::kResponse;
    if (depth_ == 2 && in_response_) {
      if (k == "uid") key_ = Field::kUid;
      if (k == "allowed") key_ = Field::kAllowed;
      if (k == "status") key_ = Field::kStatus;
    }
    if (depth_ == 3 && in_status_ && k == "message") key_ = Field::kMessage;
    return true;
  }
  bool StartObject() {
    if (depth_ == 0) root_is_object_ = true;
    if (depth_ == 1 && key_ == Field::kResponse) in_response_ = has_response_ = true;
    if (depth_ == 2 && in_response_ && key_ == Field::kStatus) in_status_ = true;
    ++depth_;
    key_ = Field::kOther;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    --depth_;
    if (depth_ == 1) in_response_ = false;
    if (depth_ == 2) in_status_ = false;
    return true;
  }
  bool StartArray() {
    ++depth_;
    key_ = Field::kOther;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth_;
    return true;
  }

  bool root_is_object_ = false, has_response_ = false, has_uid_ = false, uid_matches_ = false,
       has_allowed_ = false, allowed_ = false;
  std::string got_uid_, message_;

 private:
  enum class Field { kOther, kResponse, kUid, kAllowed, kStatus, kMessage };
  bool at_response_field(Field f) const { return depth_ == 2 && in_response_ && key_ == f; }
  void after_value() { key_ = Field::kOther; }

  std::string_view want_uid_;
  int depth_ = 0;
  bool in_response_ = false, in_status_ = false;
  Field key_ = Field::kOther;
};

Verdict fail(ErrorClass c, std::string detail) { return Verdict{false, c, std::move(detail)}; }

}  // namespace

std::string_view error_class_name(ErrorClass c) {
  switch (c) {
    case ErrorClass::kConnect:
      return "connect";
    case ErrorClass::kTls:
      return "tls";
    case ErrorClass::kTimeout:
      return "timeout";
    case ErrorClass::kHttpStatus:
      return "http_status";
    case ErrorClass::kBadResponse:
      return "bad_response";
    case ErrorClass::kUidMismatch:
      return "uid_mismatch";
    case ErrorClass::kDenied:
      return "denied";
  }
  return "unknown";
}

Verdict check_response(int http_status, std::string_view body, std::string_view uid, Check check) {
  if (http_status != 200) {
    std::string detail = "HTTP " + std::to_string(http_status);
    std::string_view text = body.substr(0, 200);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
      text.remove_suffix(1);
    }
    if (!text.empty()) detail.append(": ").append(text);
    return fail(ErrorClass::kHttpStatus, std::move(detail));
  }
  if (check == Check::kStatus) return Verdict{true, ErrorClass::kBadResponse, {}};
  ReviewHandler handler(uid);
  // Parsed in place in a reused per-thread copy: the answer's long strings (the base64 patch) are
  // then scanned without being copied out again, and nothing is allocated once the copy has room.
  thread_local std::string scratch;
  scratch.assign(body.data(), body.size());
  rapidjson::InsituStringStream in(scratch.data());
  rapidjson::Reader reader;
  const rapidjson::ParseResult parsed =
      reader.Parse<rapidjson::kParseInsituFlag | rapidjson::kParseStopWhenDoneFlag>(in, handler);
  // A NUL inside the body would end the in-place parse early; anything after the value but
  // whitespace is not JSON either.
  std::size_t end = parsed.IsError() ? 0 : in.Tell();
  while (end < body.size() &&
         (body[end] == ' ' || body[end] == '\n' || body[end] == '\r' || body[end] == '\t')) {
    ++end;
  }
  if (!parsed.IsError() && end != body.size()) {
    return fail(ErrorClass::kBadResponse, "the answer is not JSON (offset " + std::to_string(end) +
                                              ": data after the document)");
  }
  if (parsed.IsError()) {
    return fail(ErrorClass::kBadResponse, std::string("the answer is not JSON (offset ") +
                                              std::to_string(parsed.Offset()) + ": " +
                                              rapidjson::GetParseError_En(parsed.Code()) + ")");
  }
  if (!handler.root_is_object_ || !handler.has_response_) {
    return fail(ErrorClass::kBadResponse, "the answer has no response object");
  }
  if (!handler.has_uid_) return fail(ErrorClass::kBadResponse, "the answer has no response.uid");
  if (!handler.uid_matches_) {
    return fail(ErrorClass::kUidMismatch, "response.uid \"" + handler.got_uid_ +
                                              "\" answers a request with uid \"" +
                                              std::string(uid) + "\"");
  }
  if (!handler.has_allowed_) {
    return fail(ErrorClass::kBadResponse, "the answer has no response.allowed");
  }
  if (!handler.allowed_) {
    return fail(ErrorClass::kDenied,
                "denied" + (handler.message_.empty() ? "" : ": " + handler.message_));
  }
  return Verdict{true, ErrorClass::kBadResponse, {}};
}

std::uint64_t Counters::error_total() const {
  std::uint64_t n = 0;
  for (const auto e : errors) n += e;
  return n;
}

void Counters::record_error(ErrorClass c, std::string_view detail, int status) {
  const auto i = static_cast<std::size_t>(c);
  ++errors[i];
  ++completed;
  if (c == ErrorClass::kHttpStatus) ++http_status[status];
  if (samples[i].empty()) samples[i] = std::string(detail);
}

void Counters::merge(const Counters& other) {
  issued += other.issued;
  completed += other.completed;
  ok += other.ok;
  for (std::size_t i = 0; i < kErrorClasses; ++i) {
    errors[i] += other.errors[i];
    if (samples[i].empty()) samples[i] = other.samples[i];
  }
  for (const auto& [code, n] : other.http_status) http_status[code] += n;
}

}  // namespace revrouter::loadtest
