#include "policy_source/forward_all.hpp"

#include "policy/loader.hpp"

namespace egress::policy_source {

policy::PolicyLoader forward_all_loader() {
  return [] {
    return policy::load_policy_sources({{kForwardAllName, kForwardAllText}}, {},
                                       "(built-in: no policy.dir)");
  };
}

}  // namespace egress::policy_source
