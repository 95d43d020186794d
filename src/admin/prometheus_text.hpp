#pragma once

// The Prometheus text exposition format's label values, for every /metrics producer (the
// gateway's metrics in core, the process metrics here).

#include <string>
#include <string_view>

namespace egress::admin {

/// A label value as the text format wants it between its double quotes: backslash, double quote
/// and newline escaped.
inline std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace egress::admin
