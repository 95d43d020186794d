#include "ctl/assumed_name.hpp"

#include <algorithm>

namespace egress::ctl {

policy::NameVerification assumed_verification(
    std::string_view host, const std::optional<std::vector<base::IpAddress>>& answers,
    const base::IpAddress& dst, policy::HostVerification mode) {
  using V = policy::NameVerification;
  if (host.empty() || mode == policy::HostVerification::off) return V::not_checked;
  if (!answers || answers->empty()) return V::unresolved;  // no address: NODATA
  // IpAddress keeps IPv4-mapped addresses as IPv4, so "::ffff:203.0.113.7" equals 203.0.113.7.
  return std::find(answers->begin(), answers->end(), dst) != answers->end() ? V::match
                                                                            : V::mismatch;
}

}  // namespace egress::ctl
