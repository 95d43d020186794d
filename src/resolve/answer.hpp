#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip_address.hpp"

namespace egress::resolve {

/// One address from an A or AAAA answer, with the TTL the server gave it.
struct Record {
  base::IpAddress address;  ///< IPv4-mapped IPv6 answers arrive here as IPv4
  std::chrono::seconds ttl{0};

  friend bool operator==(const Record&, const Record&) = default;
};

/// The outcome of one lookup of a name (its A and AAAA questions together).
struct Answer {
  enum class Status {
    ok,           ///< at least one A or AAAA record
    no_data,      ///< the name exists but has no A or AAAA record
    nxdomain,     ///< the name does not exist
    servfail,     ///< the server failed (SERVFAIL)
    refused,      ///< the server refused (REFUSED)
    unreachable,  ///< the server could not be reached (ICMP unreachable: nothing listens)
    timeout,      ///< no answer within the lookup's timeout
    error,        ///< anything else (bad name, malformed reply, resolver stopped)
  };

  Status status = Status::error;
  /// What happened, for logs and the audit ("NXDOMAIN", "timeout after 2000 ms", ...).
  std::string detail;
  /// The addresses of the answers, A first, then AAAA; empty unless status is ok.
  std::vector<Record> records;
};

/// "ok", "no_data", "nxdomain", "servfail", "refused", "unreachable", "timeout", "error".
std::string_view to_string(Answer::Status status) noexcept;

/// True for the answers that say something about the name (NXDOMAIN, no data), false for the
/// failures that say something about the path to the server (SERVFAIL, timeout, ...).
bool is_authoritative_negative(Answer::Status status) noexcept;

}  // namespace egress::resolve
