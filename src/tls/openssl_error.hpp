#pragma once

#include <string>

namespace egress::tls {

/// Drains this thread's OpenSSL error queue and returns its reasons, oldest first, joined by
/// "; " (e.g. "no start line"). Returns `fallback` when the queue is empty.
std::string take_openssl_errors(const char* fallback = "unknown OpenSSL error");

}  // namespace egress::tls
