#pragma once

#include <memory>

#include "audit/audit_log.hpp"
#include "audit/chain.hpp"
#include "audit/sink.hpp"

namespace egress::audit {

/// Starts a writer thread over an already opened sink whose chain stands at `start` (the seam
/// open_audit_log uses, and tests use with a fake sink).
std::unique_ptr<AuditLog> start_audit_log(const Options& options, std::unique_ptr<Sink> sink,
                                          ChainState start);

}  // namespace egress::audit
