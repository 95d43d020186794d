#pragma once

// The policy of an egressd agent configured without one (issue 20: `upstream.via` set,
// `policy.dir` absent): every connection is allowed here and forwarded to the gateway, which
// decides. It is a real policy, so the agent's decision records read as any other: decision
// allow, reason `default`, policy_version the hash of the built-in Settings document below.

#include "policy/store.hpp"

namespace egress::policy_source {

/// The built-in policy's one file: a Settings document with `default: allow`, nothing denied.
inline constexpr const char* kForwardAllName = "builtin:forward-all.yaml";
inline constexpr const char* kForwardAllText =
    "# egressd agent without policy.dir: every connection goes to upstream.via, which decides.\n"
    "kind: Settings\n"
    "default: allow\n";

/// The loader a PolicyStore runs for it (the same bytes on every reload).
policy::PolicyLoader forward_all_loader();

}  // namespace egress::policy_source
