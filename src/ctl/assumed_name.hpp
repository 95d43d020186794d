#pragma once

// The name facts of `policy explain --host` and of a PolicyTest case's `host:`: what egressd's
// data path would find for a name, given the DNS answers the user assumes instead of asking DNS.

#include <optional>
#include <string_view>
#include <vector>

#include "base/ip_address.hpp"
#include "policy/facts.hpp"

namespace egress::ctl {

/// The verification the data path would record: not_checked with no name or under
/// host_verification: off (the name is not looked up); unresolved when `answers` is absent or
/// empty (the name does not resolve); match when `dst` is among them; mismatch otherwise.
policy::NameVerification assumed_verification(
    std::string_view host, const std::optional<std::vector<base::IpAddress>>& answers,
    const base::IpAddress& dst, policy::HostVerification mode);

}  // namespace egress::ctl
