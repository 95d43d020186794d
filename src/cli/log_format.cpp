#include "log_format.hpp"

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>

namespace egress::cli {
namespace {

// "2026-12-06T21:37:24.123456Z": the text format's own precision, so the two formats agree.
std::string rfc3339_utc_micros(std::chrono::system_clock::time_point tp) {
  using namespace std::chrono;
  const auto us = time_point_cast<microseconds>(tp);
  const auto day = floor<days>(us);
  const year_month_day ymd{day};
  const hh_mm_ss<microseconds> tod{us - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                static_cast<long long>(tod.subseconds().count()));
  return buf;
}

}  // namespace

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  boost::json::object o;
  o["time"] = rfc3339_utc_micros(msg.time);
  const auto level = spdlog::level::to_string_view(msg.level);
  o["level"] = std::string_view(level.data(), level.size());
  o["logger"] = std::string_view(msg.logger_name.data(), msg.logger_name.size());
  o["message"] = std::string_view(msg.payload.data(), msg.payload.size());
  const std::string line = boost::json::serialize(o);
  dest.append(line.data(), line.data() + line.size());
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>();
}

void set_log_format(spdlog::logger& logger, std::string_view format) {
  if (format == "json") {
    logger.set_formatter(std::make_unique<JsonLogFormatter>());
  } else {
    logger.set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v", spdlog::pattern_time_type::utc));
  }
}

}  // namespace egress::cli
