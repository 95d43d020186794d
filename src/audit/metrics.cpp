#include "audit/metrics.hpp"

#include <string_view>

namespace egress::audit {
namespace {

void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            std::uint64_t value) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

}  // namespace

void append_metrics(const Stats& s, std::string& out) {
  metric(out, "egress_audit_records_written_total", "counter",
         "Audit records handed to the kernel (write(2) returned).", s.records_written);
  metric(out, "egress_audit_records_dropped_total", "counter",
         "Audit records dropped (queue full, or not writable at shutdown).", s.records_dropped);
  metric(out, "egress_audit_write_errors_total", "counter", "Failed writes to the audit sink.",
         s.write_errors);
  metric(out, "egress_audit_queue_depth", "gauge", "Audit records waiting for the writer thread.",
         s.queue_depth);
  metric(out, "egress_audit_sink_healthy", "gauge",
         "1 while the audit sink accepts writes, 0 while it fails.", s.sink_healthy ? 1 : 0);
}

}  // namespace egress::audit
