#include "core/connect_answer.hpp"

#include <cstdio>

namespace egress::core {

namespace {

/// Appends `s` to a one-line body: bytes below 0x20, DEL and the backslash become \xNN.
void put_escaped(std::string& out, std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\') {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
}

/// Appends `s` to a header value without its control characters (RFC 9110 section 5.5: a field
/// value holds no CR, LF or NUL).
void put_header_value(std::string& out, std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) out += c;
  }
}

std::string body(const ConnectAnswerFields& a) {
  std::string out = "egressd: ";
  if (a.status == 400 || a.status == 405 || a.status == 431) {
    out += "bad CONNECT request";
    if (!a.detail.empty()) {
      out += ": ";
      put_escaped(out, a.detail);
    }
    out += '\n';
    return out;
  }
  out += "CONNECT ";
  put_escaped(out, a.authority.empty() ? std::string_view("(unknown)") : a.authority);
  out += a.status == 403 ? " denied: " : " failed: ";
  if (!a.rule.empty()) {
    out += "rule '";
    put_escaped(out, a.rule);
    out += '\'';
  } else {
    put_escaped(out, a.reason.empty() ? connect_status_text(a.status) : a.reason);
  }
  if (!a.detail.empty()) {
    out += " (";
    put_escaped(out, a.detail);
    out += ')';
  }
  if (!a.policy_version.empty()) {
    out += " (policy ";
    put_escaped(out, a.policy_version);
    out += ')';
  }
  out += '\n';
  return out;
}

}  // namespace

std::string_view connect_status_text(int status) noexcept {
  switch (status) {
    case 200:
      return "Connection established";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 502:
      return "Bad Gateway";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

std::string connect_answer(const ConnectAnswerFields& a) {
  std::string out = "HTTP/1.1 " + std::to_string(a.status) + " ";
  out += connect_status_text(a.status);
  out += "\r\n";
  if (!a.conn_id.empty()) {
    out += "Egressd-Decision: ";
    put_header_value(out, a.conn_id);
    out += "\r\n";
  }
  if (a.status == 200) {
    out += "\r\n";
    return out;
  }
  const std::string text = body(a);
  // The same line as a field: curl shows a refused CONNECT's fields (-v) but never its body. The
  // body's escaping already turned every control byte into text.
  out += "Egressd-Reason: ";
  put_header_value(out, std::string_view(text).substr(0, text.size() - 1));
  out += "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(text.size()) +
         "\r\nConnection: close\r\n\r\n";
  out += text;
  return out;
}

}  // namespace egress::core
