#include "server/logging.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace revrouter::server {
namespace {

TEST(LogEventTest, FieldsFormOneJsonObjectWithEscapedValues) {
  LogEvent event("admission review answered");
  event.str("uid", "a\"b\\c")
      .str("pod", "line\nbreak\ttab\x01")
      .num("latency_us", 123)
      .boolean("client_auth", true);
  const std::string line = "{" + std::string(event.fields()) + "}";
  const auto j = nlohmann::json::parse(line);  // throws if the escaping is wrong
  EXPECT_EQ(j["msg"], "admission review answered");
  EXPECT_EQ(j["uid"], "a\"b\\c");
  EXPECT_EQ(j["pod"], "line\nbreak\ttab\x01");
  EXPECT_EQ(j["latency_us"], 123);
  EXPECT_EQ(j["client_auth"], true);
}

struct LevelRow {
  const char* text;
  spdlog::level::level_enum level;
};

class LogLevelTest : public ::testing::TestWithParam<LevelRow> {};

TEST_P(LogLevelTest, NamesParse) {
  auto level = parse_log_level(GetParam().text);
  ASSERT_TRUE(level);
  EXPECT_EQ(*level, GetParam().level);
}

INSTANTIATE_TEST_SUITE_P(Levels, LogLevelTest,
                         ::testing::Values(LevelRow{"trace", spdlog::level::trace},
                                           LevelRow{"debug", spdlog::level::debug},
                                           LevelRow{"info", spdlog::level::info},
                                           LevelRow{"warn", spdlog::level::warn},
                                           LevelRow{"warning", spdlog::level::warn},
                                           LevelRow{"error", spdlog::level::err},
                                           LevelRow{"off", spdlog::level::off}));

TEST(LogLevelTest, UnknownNameIsAnError) {
  auto level = parse_log_level("verbose");
  ASSERT_FALSE(level);
  EXPECT_NE(level.error().message.find("verbose"), std::string::npos);
}

}  // namespace
}  // namespace revrouter::server
