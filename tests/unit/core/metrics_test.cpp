#include "core/metrics.hpp"

#include <gtest/gtest.h>

#include <set>

namespace egress::core {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, SumsWorkersAndRendersPrometheusText) {
  Metrics m({"egress", "egress6"}, 2);
  m.worker(0).decision(0, true, base::Reason::rule);
  m.worker(1).decision(0, true, base::Reason::rule);
  m.worker(1).decision(1, false, base::Reason::loop);
  m.worker(0).closed(0, base::Reason::eof);
  m.worker(0).bytes(100, 2000);
  m.worker(1).bytes(1, 2);
  m.worker(0).decision_latency(std::chrono::microseconds(50));
  m.worker(1).decision_latency(std::chrono::milliseconds(3));
  m.worker(0).tls_handshake(1, base::Reason{});
  m.worker(0).tls_handshake(1, base::Reason::cert_verify_failed);
  m.policy_reload(true);
  m.policy_reload(false);
  m.policy_reload(false);
  m.reload_part_failed(2);
  m.reload_part_failed(2);
  m.reload_part_failed(0);
  ScrapeInputs in;
  in.crl_next_update = 1798761600;
  in.active_by_listener = {3, 0};
  in.policy_version = "abc";
  in.policy_rules = 5;
  in.audit = audit::Stats{10, 1, 0, 2, true};
  const std::string t = m.render(in);
  for (const char* line : {
           R"(egressd_connections_total{listener="egress",decision="allow",reason="rule"} 2)",
           R"(egressd_connections_total{listener="egress6",decision="deny",reason="loop"} 1)",
           R"(egressd_connections_closed_total{listener="egress",reason="eof"} 1)",
           R"(egressd_tls_handshakes_total{listener="egress6",result="ok"} 1)",
           R"(egressd_tls_handshakes_total{listener="egress6",result="cert_verify_failed"} 1)",
           R"(egressd_active_connections{listener="egress"} 3)",
           R"(egressd_bytes_total{direction="up"} 101)",
           R"(egressd_bytes_total{direction="down"} 2002)",
           R"(egressd_decision_duration_seconds_bucket{le="0.0001"} 1)",
           R"(egressd_decision_duration_seconds_bucket{le="0.0025"} 1)",
           R"(egressd_decision_duration_seconds_bucket{le="0.005"} 2)",
           R"(egressd_decision_duration_seconds_bucket{le="+Inf"} 2)",
           R"(egressd_decision_duration_seconds_count 2)",
           R"(egressd_decision_duration_seconds_sum 0.003050000)",
           R"(egressd_policy_reloads_total{result="ok"} 1)",
           R"(egressd_policy_reloads_total{result="failed"} 2)",
           R"(egressd_reload_failures_total{part="policy"} 1)",
           R"(egressd_reload_failures_total{part="tls"} 0)",
           R"(egressd_reload_failures_total{part="crl"} 2)",
           R"(egressd_tls_crl_next_update_timestamp_seconds 1798761600)",
           R"(egressd_policy_info{version="abc"} 1)",
           R"(egressd_audit_records_written_total 10)",
           R"(egressd_audit_queue_depth 2)",
           R"(egressd_audit_sink_healthy 1)",
       }) {
    EXPECT_TRUE(has_line(t, line)) << line << "\n---\n" << t;
  }
  // Zero series are left out rather than listing every reason.
  EXPECT_EQ(t.find("reason=\"over_limit\""), std::string::npos);
}

TEST(Metrics, LimitRefusalsPendingAndSourceGauges) {
  Metrics m({"egress", "egress6"}, 2);
  m.worker(0).decision(0, false, base::Reason::over_pending_limit);
  m.worker(1).decision(0, false, base::Reason::over_pending_limit);
  m.worker(1).decision(1, false, base::Reason::over_source_limit);
  ScrapeInputs in;
  in.active_by_listener = {3, 1};
  in.pending_by_listener = {2, 0};
  const std::string off = m.render(in);
  for (
      const char* line : {
          R"(egressd_connections_total{listener="egress",decision="deny",reason="over_pending_limit"} 2)",
          R"(egressd_connections_total{listener="egress6",decision="deny",reason="over_source_limit"} 1)",
          R"(egressd_pending_connections{listener="egress"} 2)",
          R"(egressd_pending_connections{listener="egress6"} 0)",
      }) {
    EXPECT_TRUE(has_line(off, line)) << line << "\n---\n" << off;
  }
  // limits.per_source off: no sources are counted, so none are reported.
  EXPECT_EQ(off.find("egressd_connection_sources"), std::string::npos);
  in.sources = 7;
  EXPECT_TRUE(has_line(m.render(in), "egressd_connection_sources 7"));
}

TEST(Errc, EveryReasonHasAUniqueAuditSpelling) {
  std::set<std::string_view> seen;
  for (std::size_t i = 1; i < base::kReasonCount; ++i) {
    const auto name = to_string(static_cast<base::Reason>(i));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(seen.insert(name).second) << name;
  }
  EXPECT_EQ(to_string(base::Reason::default_action), "default");
  EXPECT_EQ(to_string(base::Reason::no_original_dst), "no_original_dst");
  EXPECT_EQ(to_string(base::Reason::upstream_unreachable), "upstream_unreachable");
  EXPECT_TRUE(is_decision_reason(base::Reason::over_limit));
  EXPECT_TRUE(is_decision_reason(base::Reason::over_pending_limit));
  EXPECT_TRUE(is_decision_reason(base::Reason::over_source_limit));
  EXPECT_EQ(to_string(base::Reason::over_pending_limit), "over_pending_limit");
  EXPECT_EQ(to_string(base::Reason::over_source_limit), "over_source_limit");
  EXPECT_FALSE(is_decision_reason(base::Reason::eof));
}

TEST(Metrics, NameStepsAreCountedBySourceAndResult) {
  Metrics m({"egress", "egress6"}, 2);
  m.worker(0).name_step(0, audit::NameSource::sni, audit::NameVerified::match);
  m.worker(1).name_step(0, audit::NameSource::sni, audit::NameVerified::match);
  m.worker(1).name_step(1, audit::NameSource::http_host, audit::NameVerified::mismatch);
  m.worker(1).name_step(1, audit::NameSource::none, audit::NameVerified::not_checked);
  const std::string t = m.render({});
  const std::string family = "egressd_name_verifications_total";
  for (const std::string labels : {
           R"({listener="egress",source="sni",result="match"} 2)",
           R"({listener="egress6",source="http_host",result="mismatch"} 1)",
           R"({listener="egress6",source="none",result="not_checked"} 1)",
       }) {
    EXPECT_TRUE(has_line(t, family + labels)) << labels << "\n---\n" << t;
  }
  EXPECT_TRUE(has_line(t, "# TYPE " + family + " counter"));
  EXPECT_EQ(t.find(family + R"({listener="egress",source="sni",result="mismatch"})"),
            std::string::npos)
      << "zero series are left out";
}

}  // namespace
}  // namespace egress::core
