#include "admin/process_metrics.hpp"

#include <gtest/gtest.h>

namespace egress::admin {
namespace {

// A real /proc/<pid>/stat line (proc(5)), with a command name holding a space and a ')'.
constexpr std::string_view kStat =
    "4242 (egress d) x) S 1 4242 4242 0 -1 4194560 2263 0 0 0 150 75 0 0 20 0 3 0 123456 "
    "987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(ProcessMetrics, ParsesProcStatPastTheCommandName) {
  const auto s = parse_proc_stat(kStat);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->utime_ticks, 150u);
  EXPECT_EQ(s->stime_ticks, 75u);
  EXPECT_EQ(s->start_ticks, 123456u);
  EXPECT_EQ(s->vsize_bytes, 987654321u);
  EXPECT_EQ(s->rss_pages, 2048u);
}

TEST(ProcessMetrics, RejectsShortOrGarbledStat) {
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("1 (x) S 1 2 3"));
  std::string bad(kStat);
  bad.replace(bad.find("987654321"), 9, "98765432x");
  EXPECT_FALSE(parse_proc_stat(bad));
}

TEST(ProcessMetrics, BootTime) {
  EXPECT_EQ(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"), 1700000000);
  EXPECT_FALSE(parse_boot_time("cpu 1 2 3\n"));
}

TEST(ProcessMetrics, RendersPrometheusText) {
  ProcessMetrics m;
  m.cpu_seconds = 2.25;
  m.resident_memory_bytes = 8388608;
  m.open_fds = 12;
  m.max_fds = 1024;
  m.start_time_seconds = 1700001234.56;
  const std::string text = render_process_metrics(m);
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 2.25\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("process_resident_memory_bytes 8388608\n"), std::string::npos);
  EXPECT_NE(text.find("process_open_fds 12\n"), std::string::npos);
  EXPECT_NE(text.find("process_max_fds 1024\n"), std::string::npos);
  EXPECT_NE(text.find("process_start_time_seconds 1700001234.56\n"), std::string::npos);
  EXPECT_EQ(text.find("process_virtual_memory_bytes"), std::string::npos) << "unknown: left out";
}

TEST(ProcessMetrics, ReadsThisProcess) {
  const auto m = read_process_metrics();
  ASSERT_TRUE(m.resident_memory_bytes && m.virtual_memory_bytes && m.open_fds && m.cpu_seconds &&
              m.start_time_seconds);
  EXPECT_GT(*m.resident_memory_bytes, 0u);
  EXPECT_GE(*m.virtual_memory_bytes, *m.resident_memory_bytes);
  EXPECT_GE(*m.open_fds, 3u);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(*m.start_time_seconds, now + 1);
  EXPECT_GT(*m.start_time_seconds, now - 3600);
}

TEST(BuildInfo, EscapesLabels) {
  EXPECT_EQ(render_build_info("0.1.0", "ab\"c\\d"),
            "# HELP egressd_build_info The build of the running egressd (value 1).\n"
            "# TYPE egressd_build_info gauge\n"
            "egressd_build_info{version=\"0.1.0\",commit=\"ab\\\"c\\\\d\"} 1\n");
}

}  // namespace
}  // namespace egress::admin
