#pragma once

// The operational log's two formats (egressd --log-format): text for a terminal and the journal,
// JSON Lines for a log shipper.

#include <spdlog/formatter.h>
#include <spdlog/logger.h>

#include <memory>
#include <string_view>

namespace egress::cli {

/// One JSON object per line: {"time": RFC 3339 UTC with microseconds, "level", "logger",
/// "message"}. Strings are escaped by Boost.JSON, so a message holding quotes, control characters
/// or a newline stays one valid line.
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

/// Sets the formatter of `logger` for `format` ("text": "<time> <level> <message>", UTC;
/// "json": JsonLogFormatter). Any other value is a programming error (CLI11 checked it).
void set_log_format(spdlog::logger& logger, std::string_view format);

}  // namespace egress::cli
