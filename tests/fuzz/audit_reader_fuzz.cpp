// libFuzzer target for what reads audit logs back (egressctl audit verify and audit summary): the
// input is one log file. Whatever the lines, verify_chain reports intact or one classified break,
// summarize counts what parses, and neither crashes. Build and run: tests/fuzz/README.md.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "audit/summary.hpp"
#include "audit/verify.hpp"

namespace {

// One file for the whole run (the readers take paths), in the fuzzer's working directory.
const std::string& log_path() {
  static const std::string path = "audit_reader_fuzz." + std::to_string(::getpid()) + ".jsonl";
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace egress::audit;
  std::FILE* f = std::fopen(log_path().c_str(), "wb");
  if (f == nullptr) __builtin_trap();
  if (size != 0 && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);
  const std::vector<std::string> files{log_path()};

  const VerifyResult v = verify_chain(files);
  if (!v.error.empty()) __builtin_trap();  // the file is readable: any problem is a break
  if (v.broken && (v.broken->message.empty() || v.broken->line == 0)) __builtin_trap();

  SummaryOptions options;
  options.top = 3;
  std::string error;
  const Summary s = summarize(files, options, error);
  if (!error.empty()) __builtin_trap();
  (void)to_text(s);
  (void)to_json(s);
  return 0;
}
