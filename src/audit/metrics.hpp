#pragma once

#include <string>

#include "audit/audit_log.hpp"

namespace egress::audit {

/// Appends the audit log's counters to a Prometheus text exposition (format 0.0.4), with HELP
/// and TYPE lines: egress_audit_records_written_total, egress_audit_records_dropped_total,
/// egress_audit_write_errors_total (counters), egress_audit_queue_depth and
/// egress_audit_sink_healthy (gauges, the latter 1 or 0).
void append_metrics(const Stats& stats, std::string& out);

}  // namespace egress::audit
