#include "peek/first_bytes.hpp"

#include <gtest/gtest.h>

#include <string>

namespace egress::peek {
namespace {

struct Case {
  std::string bytes;
  FirstBytes expected;
};

TEST(FirstBytes, TellsTlsHttpAndTheRestApart) {
  const Case cases[] = {
      {"", FirstBytes::need_more},
      {std::string("\x16\x03\x01", 3), FirstBytes::tls},
      {std::string("\x16", 1), FirstBytes::tls},
      {"GET / HTTP/1.1\r\n", FirstBytes::http},
      {"GET ", FirstBytes::http},
      {"POST /x HTTP/1.0\r\n", FirstBytes::http},
      {"CONNECT a.example:443 HTTP/1.1\r\n", FirstBytes::http},
      {"PROPFIND / HTTP/1.1\r\n", FirstBytes::http},  // WebDAV: Beast knows it
      {"G", FirstBytes::need_more},
      {"GE", FirstBytes::need_more},
      {"GET", FirstBytes::need_more},  // a method, not yet followed by its space
      {"SSH-2.0-OpenSSH_9.2\r\n", FirstBytes::other},
      {"get / HTTP/1.1\r\n", FirstBytes::other},  // methods are case-sensitive (RFC 9110 §9.1)
      {"FOO / HTTP/1.1\r\n", FirstBytes::other},
      {" GET / HTTP/1.1\r\n", FirstBytes::other},
      {"EHLO mail.example\r\n", FirstBytes::other},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZ", FirstBytes::other},  // longer than any method
      {std::string("\x00\x01", 2), FirstBytes::other},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(classify_first_bytes(c.bytes), c.expected) << '"' << c.bytes << '"';
  }
}

}  // namespace
}  // namespace egress::peek
