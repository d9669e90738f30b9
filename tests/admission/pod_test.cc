#include "admission/pod.h"

#include <gtest/gtest.h>

#include <string>

namespace revrouter {
namespace {

struct ParsedPod {
  ReviewDocument doc;
  Result<PodFacts> pod = Error{};
  explicit ParsedPod(const std::string& json, std::string_view request_ns = "req-ns") {
    doc.Parse(json.c_str());
    EXPECT_FALSE(doc.HasParseError()) << json;
    pod = read_pod(doc, request_ns);
  }
};

TEST(ReadPod, ReadsEveryFieldTheDecisionUses) {
  ParsedPod p(R"({"metadata":{"name":"p","generateName":"g-","namespace":"ns",
    "labels":{"app":"a"},"annotations":{"k":"v"},
    "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","controller":true}]},
    "spec":{"hostNetwork":true}})");
  ASSERT_TRUE(p.pod.ok()) << p.pod.error().message;
  EXPECT_EQ(p.pod->name, "p");
  EXPECT_EQ(p.pod->generate_name, "g-");
  EXPECT_EQ(p.pod->namespace_, "ns");
  EXPECT_EQ(p.pod->labels.get("app"), "a");
  EXPECT_EQ(p.pod->annotations.get("k"), "v");
  ASSERT_NE(p.pod->owner_references, nullptr);
  EXPECT_TRUE(p.pod->host_network);
}

TEST(ReadPod, NamespaceFallsBackToTheRequestsAndFieldsMayBeAbsent) {
  ParsedPod p(R"({"metadata":{"labels":null},"spec":{}})");
  ASSERT_TRUE(p.pod.ok());
  EXPECT_EQ(p.pod->namespace_, "req-ns");
  EXPECT_EQ(p.pod->labels.size(), 0u);
  EXPECT_FALSE(p.pod->host_network);
  ParsedPod empty("{}");
  ASSERT_TRUE(empty.pod.ok());
}

struct BadPod {
  const char* name;
  std::string json;
  std::string message;
};
class ReadPodErrors : public ::testing::TestWithParam<BadPod> {};

TEST_P(ReadPodErrors, NameTheJsonPath) {
  ParsedPod p(GetParam().json);
  ASSERT_FALSE(p.pod.ok());
  EXPECT_EQ(p.pod.error().code, "bad_field");
  EXPECT_EQ(p.pod.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    WrongTypes, ReadPodErrors,
    ::testing::Values(
        BadPod{"PodIsArray", "[]", "request.object: expected an object"},
        BadPod{"Metadata", R"({"metadata":1})", "request.object.metadata: expected an object"},
        BadPod{"Name", R"({"metadata":{"name":1}})", "request.object.metadata.name: expected a string"},
        BadPod{"GenerateName", R"({"metadata":{"generateName":{}}})", "request.object.metadata.generateName: expected a string"},
        BadPod{"Namespace", R"({"metadata":{"namespace":[]}})", "request.object.metadata.namespace: expected a string"},
        BadPod{"Labels", R"({"metadata":{"labels":[]}})", "request.object.metadata.labels: expected an object of strings"},
        BadPod{"LabelValue", R"({"metadata":{"labels":{"app":1}}})", "request.object.metadata.labels.app: expected a string"},
        BadPod{"AnnotationValue", R"({"metadata":{"annotations":{"a/b":true}}})", "request.object.metadata.annotations.a/b: expected a string"},
        BadPod{"Owners", R"({"metadata":{"ownerReferences":{}}})", "request.object.metadata.ownerReferences: expected an array"},
        BadPod{"Owner", R"({"metadata":{"ownerReferences":[1]}})", "request.object.metadata.ownerReferences[0]: expected an object"},
        BadPod{"OwnerKind", R"({"metadata":{"ownerReferences":[{},{"kind":2}]}})", "request.object.metadata.ownerReferences[1].kind: expected a string"},
        BadPod{"OwnerController", R"({"metadata":{"ownerReferences":[{"controller":"yes"}]}})", "request.object.metadata.ownerReferences[0].controller: expected a boolean"},
        BadPod{"Spec", R"({"spec":"x"})", "request.object.spec: expected an object"},
        BadPod{"HostNetwork", R"({"spec":{"hostNetwork":"true"}})", "request.object.spec.hostNetwork: expected a boolean"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace revrouter
