#pragma once

#include <optional>
#include <string>

namespace egress::cli {

/// What `egressd --check-config` says about audit.path before start-up would fail on it: nullopt
/// when the process running the check (systemd's ExecStartPre runs as the service user) can
/// create or append to `path`; otherwise an error naming audit.path, the directory or file, and
/// the system's reason. "-" (stdout) needs nothing.
std::optional<std::string> check_audit_path(const std::string& path);

}  // namespace egress::cli
