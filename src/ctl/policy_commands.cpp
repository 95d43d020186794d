#include "ctl/policy_commands.hpp"

namespace egress::ctl {

// Placeholder until the policy engine lands (issue 2).
void register_policy_commands(CLI::App& app, int& exit_code) {
  (void)app;
  (void)exit_code;
}

}  // namespace egress::ctl
