#include "log_format.hpp"

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <string>

#include "clock/rfc3339.hpp"

namespace egress::cli {

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  boost::json::object o;
  // The audit records' `ts` precision, so the two logs line up.
  std::string time;
  clock::append_rfc3339_micros(time, msg.time);
  o["time"] = time;
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
