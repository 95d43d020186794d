// libFuzzer target for the gateway config loader: the input is one YAML config file. Whatever the
// bytes, parse_config returns a config or errors (never both, never neither), each error with a
// position, and does not crash. Build and run: tests/fuzz/README.md.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace egress::config;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const LoadResult r = parse_config(text, "/etc/egressd/fuzz.yaml");
  if (r.config.has_value() == !r.errors.empty()) __builtin_trap();
  for (const auto& e : r.errors) {
    if (e.file.empty() || e.message.empty() || e.to_string().empty()) __builtin_trap();
  }
  return 0;
}
