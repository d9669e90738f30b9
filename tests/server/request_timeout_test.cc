#include "server/request_timeout.h"

#include <gtest/gtest.h>

namespace revrouter::server {
namespace {

using namespace std::chrono_literals;

struct DurationRow {
  const char* name;
  const char* text;
  std::chrono::nanoseconds want;
};

class GoDurationTest : public ::testing::TestWithParam<DurationRow> {};

TEST_P(GoDurationTest, ParsesAsGoDoes) {
  auto d = parse_go_duration(GetParam().text);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->count(), GetParam().want.count());
}

INSTANTIATE_TEST_SUITE_P(
    Valid, GoDurationTest,
    ::testing::Values(
        DurationRow{"ApiserverDefault", "10s", 10s}, DurationRow{"ApiserverMaximum", "30s", 30s},
        DurationRow{"Milliseconds", "1500ms", 1500ms}, DurationRow{"Compound", "1m30s", 90s},
        DurationRow{"HoursMinutesSeconds", "1h2m3s", 3723s},
        DurationRow{"Fraction", "1.5s", 1500ms}, DurationRow{"LeadingDotFraction", ".5s", 500ms},
        DurationRow{"TrailingDot", "5.s", 5s}, DurationRow{"Microseconds", "250us", 250us},
        DurationRow{"MicroSign", "250\xC2\xB5s", 250us},
        DurationRow{"GreekMu", "250\xCE\xBCs", 250us}, DurationRow{"Nanoseconds", "7ns", 7ns},
        DurationRow{"BareZero", "0", 0ns}, DurationRow{"PlusSign", "+2s", 2s},
        DurationRow{"MinusSign", "-2s", -2s},
        DurationRow{"LongFractionKeepsPrecision", "0.000000001s", 1ns},
        DurationRow{"MaxInt64", "9223372036854775807ns", std::chrono::nanoseconds(INT64_MAX)}),
    [](const auto& info) { return std::string(info.param.name); });

struct BadDurationRow {
  const char* name;
  const char* text;
  const char* message;
};

class BadGoDurationTest : public ::testing::TestWithParam<BadDurationRow> {};

TEST_P(BadGoDurationTest, IsRejectedWithAReason) {
  auto d = parse_go_duration(GetParam().text);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, "bad_timeout");
  EXPECT_NE(d.error().message.find(GetParam().message), std::string::npos) << d.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Invalid, BadGoDurationTest,
    ::testing::Values(BadDurationRow{"Empty", "", "empty duration"},
                      BadDurationRow{"SignOnly", "-", "empty duration"},
                      BadDurationRow{"NoUnit", "10", "missing unit"},
                      BadDurationRow{"UnknownUnit", "10d", "unknown unit \"d\""},
                      BadDurationRow{"Word", "soon", "expected a number"},
                      BadDurationRow{"DotOnly", ".s", "expected digits"},
                      BadDurationRow{"Space", "10 s", "unknown unit \" s\""},
                      BadDurationRow{"Overflow", "9223372036854775808ns", "out of range"},
                      BadDurationRow{"HugeHours", "3000000h", "out of range"}),
    [](const auto& info) { return std::string(info.param.name); });

struct QueryRow {
  const char* name;
  const char* query;
  std::optional<std::chrono::nanoseconds> want;
};

class TimeoutQueryTest : public ::testing::TestWithParam<QueryRow> {};

TEST_P(TimeoutQueryTest, FindsTheTimeoutParameter) {
  auto t = timeout_from_query(GetParam().query);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t, GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Queries, TimeoutQueryTest,
    ::testing::Values(QueryRow{"Absent", "", std::nullopt},
                      QueryRow{"OtherParameters", "dryRun=true&x=1", std::nullopt},
                      QueryRow{"Only", "timeout=10s", 10s},
                      QueryRow{"AmongOthers", "a=1&timeout=30s&b=2", 30s},
                      QueryRow{"PrefixIsNotTheParameter", "timeouts=5s", std::nullopt}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TimeoutQueryTest, NonPositiveTimeoutIsRejected) {
  for (const char* q : {"timeout=0s", "timeout=-1s", "timeout=", "timeout"}) {
    auto t = timeout_from_query(q);
    ASSERT_FALSE(t) << q;
    EXPECT_EQ(t.error().code, "bad_timeout") << q;
  }
}

TEST(AnswerBudgetTest, SubtractsTheMarginButKeepsAtLeastHalf) {
  EXPECT_EQ(answer_budget(10s, 200ms), 9800ms);
  EXPECT_EQ(answer_budget(300ms, 200ms), 150ms);  // the margin would leave less than half
  EXPECT_EQ(answer_budget(1s, 0ms), 1s);
}

}  // namespace
}  // namespace revrouter::server
