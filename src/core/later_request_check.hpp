#pragma once

// Issue 19: on a kept-alive plaintext HTTP/1.x connection every later request's Host must decide
// as the first request's did, or the connection is reset (`host_changed`): a client that was
// allowed for one name and then asks the same upstream for another is domain fronting.

#include <cstddef>
#include <optional>
#include <string>

#include "filters/filter.hpp"
#include "peek/http_host.hpp"

namespace egress::resolve {
class NameVerifier;
}

namespace egress::core {

/// Decides whether a later request on an allowed connection may pass, by its host alone: the
/// connection's first name (facts.name, source http_host) and decision (facts.decision, made by
/// facts.policy) are fixed. A request whose host is the first name (normalised: case, trailing
/// dot; the port is not compared, the destination address and port are the connection's) passes
/// without an evaluation. Any other host is evaluated with facts.policy and the connection's own
/// source, destination and identity, and passes only when that decision has the same action and
/// the same rule id as the connection's. Its name is verified only with the answers `verifier`
/// already holds (NameVerifier::held: no lookup, no wait); nothing held, or no verifier, is not
/// verified (not_checked), so under host_verification strict an allow rule's `hosts` does not
/// match it. Under host_verification off nothing is verified. A request naming no host, or an IP
/// address, is evaluated without a name. Borrows `facts` and `verifier`, which
/// must outlive it.
class LaterRequestCheck {
 public:
  LaterRequestCheck(const filters::Facts& facts, const resolve::NameVerifier* verifier);

  /// nullopt when request number `index` (1 = the first) with `host` may pass; otherwise the
  /// detail for the close record, naming both hosts and both decisions, e.g. `request 2: Host
  /// "b.example" decides deny (default) (name_verified: not_checked), the first request's
  /// "a.example" allow (rule "r1")`.
  std::optional<std::string> check(const peek::HttpHost& host, std::size_t index) const;

  /// The first request's name, normalised.
  const std::string& first_name() const noexcept { return first_; }

 private:
  const filters::Facts& facts_;
  const resolve::NameVerifier* verifier_;
  std::string first_;
};

}  // namespace egress::core
