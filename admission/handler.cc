#include "admission/handler.h"

#include <array>
#include <string>

#include "admission/patch_builder.h"
#include "admission/pod.h"
#include "admission/workload.h"

namespace revrouter {

RequestScratch::RequestScratch()
    : pool_buffer_(new char[kPoolBytes]),
      pool_(std::make_unique<rapidjson::MemoryPoolAllocator<>>(pool_buffer_.get(), kPoolBytes)),
      stack_buffer_(new char[kStackBytes]),
      stack_pool_(
          std::make_unique<rapidjson::MemoryPoolAllocator<>>(stack_buffer_.get(), kStackBytes)) {
  patch.reserve(64 * 1024);
  response.reserve(96 * 1024);
}

ReviewDocument& RequestScratch::fresh_document() {
  doc_.reset();
  // The pool's values are plain memory (MemoryPoolAllocator never runs destructors); Clear() keeps
  // the user buffer and returns only the overflow chunks of a large previous request.
  pool_->Clear();
  stack_pool_->Clear();
  doc_.emplace(pool_.get(), 1024, stack_pool_.get());
  return *doc_;
}

namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kText = "text/plain; charset=utf-8";

// An HTTP-level error: no AdmissionReview (or no uid) to answer in-protocol.
HandledRequest text_error(int status, const Error& e, RequestScratch& scratch, HandledRequest out) {
  scratch.response.assign(e.message).push_back('\n');
  out.http_status = status;
  out.content_type = kText;
  out.body = scratch.response;
  out.error_code = e.code;
  return out;
}

HandledRequest answer(const AdmissionResponse& r, RequestScratch& scratch, HandledRequest out) {
  write_admission_review(r, scratch.response);
  out.http_status = 200;
  out.content_type = kJson;
  out.body = scratch.response;
  return out;
}

// A Pod CREATE that cannot be read is denied in-protocol: the apiserver shows the message to the
// user, and a pod we cannot read is not one we can vouch for.
HandledRequest deny(const AdmissionRequest& req, const Error& e, RequestScratch& scratch,
                    HandledRequest out) {
  AdmissionResponse r;
  r.version = req.version;
  r.uid = req.uid;
  r.allowed = false;
  r.status_code = 400;
  std::string& msg = scratch.patch;  // free until a patch is built; keeps the message off the heap
  msg.assign("revrouter: ").append(e.message);
  r.status_message = msg;
  out.error_code = e.code;
  return answer(r, scratch, out);
}

}  // namespace

HandledRequest handle_admission(const RoutingTable& table, std::string_view path, char* body,
                                std::size_t len, RequestScratch& scratch,
                                const Revision* substitute, std::string_view substitute_warning) {
  HandledRequest out;
  out.decision.reason = Reason::kNotPodCreate;
  auto webhook = parse_webhook_path(path);
  if (!webhook) return text_error(404, webhook.error(), scratch, out);

  auto parsed = parse_admission_review(body, len, scratch.fresh_document());
  if (!parsed) return text_error(400, parsed.error(), scratch, out);
  const AdmissionRequest& req = *parsed;
  out.version = req.version;
  out.uid = req.uid;
  out.namespace_ = req.namespace_;
  out.pod_name = req.name;
  if (req.malformed) return deny(req, *req.malformed, scratch, out);

  AdmissionResponse r;
  r.version = req.version;
  r.uid = req.uid;
  if (!req.is_pod_create()) return answer(r, scratch, out);

  if (req.object == nullptr) {
    return deny(req, make_error("missing_object", "Pod CREATE request has no request.object"),
                scratch, out);
  }
  // An absent (or null) kind is taken as a Pod; a kind of any other type or value is not one.
  if (const JsonValue* kind = member(req.object, "kind");
      !req.object->IsObject() ||
      (kind != nullptr && !kind->IsNull() && (!kind->IsString() || sv(*kind) != "Pod"))) {
    return deny(req, make_error("not_a_pod", "request.object is not a Pod"), scratch, out);
  }
  auto pod = read_pod(*req.object, req.namespace_);
  if (!pod) return deny(req, pod.error(), scratch, out);
  out.namespace_ = pod->namespace_;
  out.pod_name = pod->name.empty() ? pod->generate_name : pod->name;

  out.decision = decide(table, req, *pod, webhook->ns);
  const Decision& d = out.decision;
  const Revision* stood_in_for = nullptr;
  if (substitute != nullptr && d.inject && d.revision != substitute) {
    stood_in_for = d.revision;
    out.decision.revision = substitute;
  }
  if (d.inject && d.revision->backend == Backend::kProxy) {
    out.forward_to = d.revision;
    return out;
  }

  std::array<std::string_view, 2> warnings;
  std::size_t warning_count = 0;
  if (!d.warning.empty()) warnings[warning_count++] = d.warning;
  if (stood_in_for != nullptr && !substitute_warning.empty()) {
    warnings[warning_count++] = substitute_warning;
  }

  std::array<AuditAnnotation, 4> audit;
  std::size_t audit_count = 0;
  audit[audit_count++] = {"reason", to_string(d.reason)};
  if (!d.requested.empty()) audit[audit_count++] = {"requested", d.requested};
  if (d.revision != nullptr) audit[audit_count++] = {"revision", d.revision->name};
  if (stood_in_for != nullptr) audit[audit_count++] = {"fallback-for", stood_in_for->name};

  if (d.inject && d.revision->backend == Backend::kLocal) {
    const Workload workload = workload_of(*pod);
    const PatchInput input{req, *pod, *d.revision, *webhook, workload};
    if (auto built = build_injection_patch(input, scratch.patch); !built) {
      return deny(req, built.error(), scratch, out);
    }
    r.patch = scratch.patch;
  }
  r.warnings = std::span(warnings.data(), warning_count);
  r.audit_annotations = std::span(audit.data(), audit_count);
  return answer(r, scratch, out);
}

}  // namespace revrouter
