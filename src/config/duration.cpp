#include "config/duration.hpp"

#include <cstdint>
#include <limits>
#include <string>

namespace egress::config {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / 2;
  while (i < text.size()) {
    std::int64_t value = 0;
    const std::size_t digits_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      const int digit = text[i] - '0';
      if (value > (kMax - digit) / 10) return std::nullopt;
      value = value * 10 + digit;
      ++i;
    }
    if (i == digits_start) return std::nullopt;
    std::int64_t scale = 0;
    if (text.substr(i, 2) == "ms") {
      scale = 1;
      i += 2;
    } else if (i < text.size() && text[i] == 's') {
      scale = 1000;
      ++i;
    } else if (i < text.size() && text[i] == 'm') {
      scale = 60'000;
      ++i;
    } else if (i < text.size() && text[i] == 'h') {
      scale = 3'600'000;
      ++i;
    } else {
      return std::nullopt;  // a bare number or an unknown unit
    }
    if (value > (kMax - total) / scale) return std::nullopt;
    total += value * scale;
  }
  return std::chrono::milliseconds(total);
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace egress::config
