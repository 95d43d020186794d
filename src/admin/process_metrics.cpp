#include "admin/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "admin/prometheus_text.hpp"

namespace egress::admin {
namespace {

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<std::string> read_text(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  std::string_view rest = text.substr(close + 1);
  while (!rest.empty()) {
    const auto start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const auto end = std::min(rest.find_first_of(" \n"), rest.size());
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end);
  }
  auto field = [&](std::size_t n) { return to_u64(fields[n - 3]); };
  if (fields.size() < 24 - 2) return std::nullopt;
  const auto utime = field(14), stime = field(15), start = field(22), vsize = field(23),
             rss = field(24);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  return ProcStat{*utime, *stime, *start, *vsize, *rss};
}

std::optional<std::int64_t> parse_boot_time(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    if (line.starts_with("btime ")) {
      if (const auto v = to_u64(line.substr(6))) return static_cast<std::int64_t>(*v);
      return std::nullopt;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

ProcessMetrics read_process_metrics() {
  ProcessMetrics m;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  const auto stat_text = read_text("/proc/self/stat");
  const auto stat = stat_text ? parse_proc_stat(*stat_text) : std::nullopt;
  if (stat && ticks > 0 && page > 0) {
    m.cpu_seconds =
        static_cast<double>(stat->utime_ticks + stat->stime_ticks) / static_cast<double>(ticks);
    m.virtual_memory_bytes = stat->vsize_bytes;
    m.resident_memory_bytes = stat->rss_pages * static_cast<std::uint64_t>(page);
    const auto boot_text = read_text("/proc/stat");
    if (const auto boot = boot_text ? parse_boot_time(*boot_text) : std::nullopt) {
      m.start_time_seconds = static_cast<double>(*boot) +
                             static_cast<double>(stat->start_ticks) / static_cast<double>(ticks);
    }
  }
  std::error_code ec;
  std::uint64_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++fds;
  }
  if (!ec) m.open_fds = fds;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    m.max_fds = rl.rlim_cur;
  }
  return m;
}

std::string render_process_metrics(const ProcessMetrics& m) {
  std::string out;
  auto put = [&out](std::string_view name, std::string_view type, std::string_view help,
                    const auto& value) {
    if (!value) return;
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name,
                   type, name, *value);
  };
  put("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
      m.cpu_seconds);
  put("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
      m.resident_memory_bytes);
  put("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
      m.virtual_memory_bytes);
  put("process_open_fds", "gauge", "Number of open file descriptors.", m.open_fds);
  put("process_max_fds", "gauge", "Maximum number of open file descriptors.", m.max_fds);
  put("process_start_time_seconds", "gauge",
      "Start time of the process since unix epoch in seconds.", m.start_time_seconds);
  return out;
}

std::string render_build_info(std::string_view version, std::string_view commit) {
  return fmt::format(
      "# HELP egressd_build_info The build of the running egressd (value 1).\n"
      "# TYPE egressd_build_info gauge\n"
      "egressd_build_info{{version=\"{}\",commit=\"{}\"}} 1\n",
      escape_label_value(version), escape_label_value(commit));
}

}  // namespace egress::admin
