// Kubernetes label selector semantics (k8s.io/apimachinery/pkg/labels), as Istio's
// neverInjectSelector / alwaysInjectSelector use them.
#include "admission/label_selector.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/admission/decision_fixtures.h"

namespace revrouter {
namespace {

using Op = LabelRequirement::Op;
using testing::requirement;
using testing::selector;

struct SelectorCase {
  const char* name;
  LabelSelector selector;
  const char* labels;  // JSON object text, or "null" for a pod without labels
  bool matches;
};

std::vector<SelectorCase> cases() {
  return {
      {"in_value_listed", selector({requirement("app", Op::kIn, {"web"})}), R"({"app":"web"})",
       true},
      {"in_one_of_several", selector({requirement("app", Op::kIn, {"api", "web", "db"})}),
       R"({"app":"db"})", true},
      {"in_value_not_listed", selector({requirement("app", Op::kIn, {"web"})}), R"({"app":"api"})",
       false},
      {"in_key_absent", selector({requirement("app", Op::kIn, {"web"})}), R"({"tier":"web"})",
       false},
      {"in_is_case_sensitive", selector({requirement("app", Op::kIn, {"web"})}), R"({"app":"Web"})",
       false},
      {"in_empty_value_listed", selector({requirement("app", Op::kIn, {""})}), R"({"app":""})",
       true},
      {"notin_value_not_listed", selector({requirement("app", Op::kNotIn, {"web"})}),
       R"({"app":"api"})", true},
      {"notin_value_listed", selector({requirement("app", Op::kNotIn, {"web", "api"})}),
       R"({"app":"api"})", false},
      {"notin_key_absent_holds", selector({requirement("app", Op::kNotIn, {"web"})}), R"({})",
       true},
      {"notin_no_labels_at_all_holds", selector({requirement("app", Op::kNotIn, {"web"})}), "null",
       true},
      {"exists_key_present", selector({requirement("app", Op::kExists)}), R"({"app":"x"})", true},
      {"exists_empty_value_counts", selector({requirement("app", Op::kExists)}), R"({"app":""})",
       true},
      {"exists_key_absent", selector({requirement("app", Op::kExists)}), R"({"apps":"x"})", false},
      {"exists_no_labels_at_all", selector({requirement("app", Op::kExists)}), "null", false},
      {"doesnotexist_key_absent", selector({requirement("app", Op::kDoesNotExist)}),
       R"({"tier":"x"})", true},
      {"doesnotexist_key_present", selector({requirement("app", Op::kDoesNotExist)}),
       R"({"app":"x"})", false},
      {"doesnotexist_no_labels_at_all", selector({requirement("app", Op::kDoesNotExist)}), "null",
       true},
      {"all_requirements_hold",
       selector({requirement("app", Op::kIn, {"web"}), requirement("tier", Op::kExists),
                 requirement("legacy", Op::kDoesNotExist),
                 requirement("env", Op::kNotIn, {"prod"})}),
       R"({"app":"web","tier":"front","env":"dev"})", true},
      {"one_requirement_fails_fails_all",
       selector({requirement("app", Op::kIn, {"web"}), requirement("tier", Op::kExists),
                 requirement("legacy", Op::kDoesNotExist)}),
       R"({"app":"web","tier":"front","legacy":"true"})", false},
      {"two_requirements_same_key",
       selector({requirement("app", Op::kExists), requirement("app", Op::kNotIn, {"db"})}),
       R"({"app":"web"})", true},
      {"two_requirements_same_key_conflict",
       selector({requirement("app", Op::kIn, {"web"}), requirement("app", Op::kNotIn, {"web"})}),
       R"({"app":"web"})", false},
      {"empty_selector_matches_everything", selector({}), R"({"app":"web"})", true},
      {"empty_selector_matches_no_labels", selector({}), "null", true},
  };
}

class LabelSelectorTest : public ::testing::TestWithParam<SelectorCase> {};

TEST_P(LabelSelectorTest, Matches) {
  const SelectorCase& c = GetParam();
  rapidjson::Document doc;
  // With a length RapidJSON reads through a MemoryStream, not the SSE4.2 scanner that loads 16
  // aligned bytes and so reads past the end of a short literal (which ASan reports).
  doc.Parse(c.labels, std::strlen(c.labels));
  ASSERT_FALSE(doc.HasParseError()) << c.labels;
  const StringMap labels(doc.IsNull() ? nullptr : &doc);
  EXPECT_EQ(c.selector.matches(labels), c.matches) << c.labels;
}

INSTANTIATE_TEST_SUITE_P(Rules, LabelSelectorTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(LabelSelector, EmptyReportsEmpty) {
  EXPECT_TRUE(selector({}).empty());
  EXPECT_FALSE(selector({requirement("a", Op::kExists)}).empty());
}

}  // namespace
}  // namespace revrouter
