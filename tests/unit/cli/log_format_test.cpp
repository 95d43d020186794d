#include "log_format.hpp"

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <boost/json/parse.hpp>
#include <sstream>

namespace egress::cli {
namespace {

struct Captured {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
  explicit Captured(std::string_view format) {
    logger = std::make_shared<spdlog::logger>(
        "egressd", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
    logger->set_level(spdlog::level::trace);
    set_log_format(*logger, format);
  }
};

TEST(JsonLogFormatter, OneEscapedObjectPerLine) {
  Captured c("json");
  const std::string nasty = "say \"hi\"\\ then\nnew line\ttab \x01 ctl";
  c.logger->warn("{}", nasty);
  c.logger->debug("second");
  const std::string text = c.out.str();
  const auto nl = text.find('\n');
  ASSERT_NE(nl, std::string::npos);
  EXPECT_EQ(text.find('\n', nl + 1), text.size() - 1) << "exactly two lines: " << text;

  const auto first = boost::json::parse(text.substr(0, nl)).as_object();
  EXPECT_EQ(first.at("message").as_string(), nasty);
  EXPECT_EQ(first.at("level").as_string(), "warning");
  EXPECT_EQ(first.at("logger").as_string(), "egressd");
  const std::string time(first.at("time").as_string());
  // 2026-12-06T21:37:24.123456Z
  ASSERT_EQ(time.size(), 27u) << time;
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time[19], '.');
  EXPECT_EQ(time.back(), 'Z');
  const auto second = boost::json::parse(text.substr(nl + 1)).as_object();
  EXPECT_EQ(second.at("level").as_string(), "debug");
  EXPECT_EQ(second.at("message").as_string(), "second");
  EXPECT_EQ(second.size(), 4u);
}

TEST(JsonLogFormatter, TimeIsUtc) {
  Captured c("json");
  spdlog::details::log_msg msg(spdlog::source_loc{}, "egressd", spdlog::level::info, "x");
  msg.time = std::chrono::system_clock::time_point(std::chrono::microseconds(1700000000123456));
  spdlog::memory_buf_t buf;
  JsonLogFormatter().format(msg, buf);
  const auto o = boost::json::parse(std::string_view(buf.data(), buf.size())).as_object();
  EXPECT_EQ(o.at("time").as_string(), "2023-11-14T22:13:20.123456Z");
}

TEST(LogFormat, TextIsOneLineWithLevelAndMessage) {
  Captured c("text");
  c.logger->info("hello {}", 1);
  const std::string text = c.out.str();
  EXPECT_NE(text.find(" info hello 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.front(), '2');
}

}  // namespace
}  // namespace egress::cli
