#include "peek/quoted_bytes.hpp"

#include <cstdio>

namespace egress::peek {

std::string quoted_bytes(std::string_view bytes, std::size_t max) {
  std::string out = "\"";
  for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  out += bytes.size() > max ? "\"..." : "\"";
  return out;
}

}  // namespace egress::peek
