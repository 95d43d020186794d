#pragma once

// The standard process metrics of the Prometheus client libraries (process_cpu_seconds_total,
// process_resident_memory_bytes, ...: names, types and units as client_golang's process
// collector) and egressd_build_info, for GET /metrics. Read from /proc at each scrape.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace egress::admin {

/// The fields of /proc/<pid>/stat the metrics need (proc(5)), in the kernel's units.
struct ProcStat {
  std::uint64_t utime_ticks = 0;  ///< field 14, user CPU in clock ticks
  std::uint64_t stime_ticks = 0;  ///< field 15, system CPU in clock ticks
  std::uint64_t start_ticks = 0;  ///< field 22, start time in clock ticks after boot
  std::uint64_t vsize_bytes = 0;  ///< field 23, virtual memory size in bytes
  std::uint64_t rss_pages = 0;    ///< field 24, resident set size in pages
};

/// Parses the text of /proc/<pid>/stat. The command name (field 2) is in parentheses and may
/// itself hold spaces and ')', so the fields are counted from its last ')'. nullopt when the
/// text has fewer fields or a field is not a number.
std::optional<ProcStat> parse_proc_stat(std::string_view text);

/// The boot time (Unix seconds) from the text of /proc/stat (its "btime" line); nullopt without.
std::optional<std::int64_t> parse_boot_time(std::string_view proc_stat_text);

/// What one scrape reports; a value that could not be read is left out of the text.
struct ProcessMetrics {
  std::optional<double> cpu_seconds;
  std::optional<double> start_time_seconds;
  std::optional<std::uint64_t> resident_memory_bytes;
  std::optional<std::uint64_t> virtual_memory_bytes;
  std::optional<std::uint64_t> open_fds;
  std::optional<std::uint64_t> max_fds;
};

/// Reads this process's metrics: /proc/self/stat, /proc/stat, /proc/self/fd, getrlimit.
ProcessMetrics read_process_metrics();

/// Prometheus text exposition format 0.0.4 (HELP, TYPE and sample of each value present).
std::string render_process_metrics(const ProcessMetrics& m);

/// `egressd_build_info{version="...",commit="..."} 1` with its HELP and TYPE (label values
/// escaped as the text format requires).
std::string render_build_info(std::string_view version, std::string_view commit);

}  // namespace egress::admin
