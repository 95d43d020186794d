#include "audit/metrics.hpp"

#include <gtest/gtest.h>

namespace egress::audit {
namespace {

TEST(AuditMetrics, PrometheusTextWithHelpAndType) {
  Stats s;
  s.records_written = 10;
  s.records_dropped = 2;
  s.write_errors = 3;
  s.queue_depth = 4;
  s.sink_healthy = false;
  std::string out;
  append_metrics(s, out);
  EXPECT_NE(out.find("# TYPE egress_audit_records_written_total counter\n"
                     "egress_audit_records_written_total 10\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\negress_audit_records_dropped_total 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\negress_audit_write_errors_total 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("# TYPE egress_audit_queue_depth gauge\negress_audit_queue_depth 4\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\negress_audit_sink_healthy 0\n"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
}

}  // namespace
}  // namespace egress::audit
