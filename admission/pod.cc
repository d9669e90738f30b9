#include "admission/pod.h"

#include <string>

namespace revrouter {
namespace {

Error bad_field(std::string_view path, std::string_view want) {
  std::string msg = "request.object.";
  msg.append(path).append(": expected ").append(want);
  return make_error("bad_field", std::move(msg));
}

// JSON null counts as absent, as in Go's decoding of Kubernetes objects.
const JsonValue* present(const JsonValue* v) { return v == nullptr || v->IsNull() ? nullptr : v; }

Result<std::string_view> optional_string(const JsonValue* obj, std::string_view key,
                                         std::string_view path) {
  const JsonValue* v = present(member(obj, key));
  if (v == nullptr) return std::string_view{};
  if (!v->IsString()) return bad_field(path, "a string");
  return sv(*v);
}

Status check_string_map(const JsonValue* map, std::string_view path) {
  if (map == nullptr) return Ok{};
  if (!map->IsObject()) return bad_field(path, "an object of strings");
  for (auto it = map->MemberBegin(); it != map->MemberEnd(); ++it) {
    if (!it->value.IsString()) {
      std::string p(path);
      p.append(".").append(sv(it->name));
      return bad_field(p, "a string");
    }
  }
  return Ok{};
}

Status check_owner_references(const JsonValue* refs) {
  if (refs == nullptr) return Ok{};
  if (!refs->IsArray()) return bad_field("metadata.ownerReferences", "an array");
  // The JSON path is built only on the error path: this runs for every pod.
  auto path = [](rapidjson::SizeType i, std::string_view field) {
    std::string p = "metadata.ownerReferences[" + std::to_string(i) + "]";
    if (!field.empty()) p.append(".").append(field);
    return p;
  };
  for (rapidjson::SizeType i = 0; i < refs->Size(); ++i) {
    const JsonValue& ref = (*refs)[i];
    if (!ref.IsObject()) return bad_field(path(i, ""), "an object");
    for (std::string_view key : {"apiVersion", "kind", "name", "uid"}) {
      const JsonValue* v = present(member(&ref, key));
      if (v != nullptr && !v->IsString()) return bad_field(path(i, key), "a string");
    }
    const JsonValue* controller = present(member(&ref, "controller"));
    if (controller != nullptr && !controller->IsBool()) {
      return bad_field(path(i, "controller"), "a boolean");
    }
  }
  return Ok{};
}

}  // namespace

Result<PodFacts> read_pod(const JsonValue& object, std::string_view request_namespace) {
  if (!object.IsObject()) return make_error("bad_field", "request.object: expected an object");
  PodFacts pod;
  pod.object = &object;

  const JsonValue* metadata = present(member(&object, "metadata"));
  if (metadata != nullptr && !metadata->IsObject()) return bad_field("metadata", "an object");

  auto name = optional_string(metadata, "name", "metadata.name");
  if (!name) return name.error();
  auto generate_name = optional_string(metadata, "generateName", "metadata.generateName");
  if (!generate_name) return generate_name.error();
  auto ns = optional_string(metadata, "namespace", "metadata.namespace");
  if (!ns) return ns.error();
  pod.name = *name;
  pod.generate_name = *generate_name;
  // At CREATE the object often has no namespace yet; the request's is authoritative then.
  pod.namespace_ = ns->empty() ? request_namespace : *ns;

  const JsonValue* labels = present(member(metadata, "labels"));
  if (auto s = check_string_map(labels, "metadata.labels"); !s) return s.error();
  const JsonValue* annotations = present(member(metadata, "annotations"));
  if (auto s = check_string_map(annotations, "metadata.annotations"); !s) return s.error();
  pod.labels = StringMap(labels);
  pod.annotations = StringMap(annotations);

  const JsonValue* owners = present(member(metadata, "ownerReferences"));
  if (auto s = check_owner_references(owners); !s) return s.error();
  pod.owner_references = owners;

  const JsonValue* spec = present(member(&object, "spec"));
  if (spec != nullptr && !spec->IsObject()) return bad_field("spec", "an object");
  const JsonValue* host_network = present(member(spec, "hostNetwork"));
  if (host_network != nullptr) {
    if (!host_network->IsBool()) return bad_field("spec.hostNetwork", "a boolean");
    pod.host_network = host_network->GetBool();
  }
  return pod;
}

}  // namespace revrouter
