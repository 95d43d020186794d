#pragma once

// Where the audit records come from: the gateway's name and this run's instance id (see
// audit::Origin in encoder.hpp and docs/audit.md's `gateway` and `conn_id`).

#include <string>

namespace egress::audit {

/// The host name (gethostname), or "unknown" when it cannot be read.
std::string host_name();

/// 16 lowercase hex digits from the system's CSPRNG: unique per run with overwhelming
/// probability, so "<instance>-<counter>" never repeats across restarts or replicas.
std::string random_instance_id();

}  // namespace egress::audit
