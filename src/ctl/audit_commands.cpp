#include "ctl/audit_commands.hpp"

#include <boost/json/serialize.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "audit/summary.hpp"
#include "audit/verify.hpp"

namespace egress::ctl {
namespace {

int run_verify(const std::vector<std::string>& files) {
  const auto result = audit::verify_chain(files);
  if (!result.error.empty()) {
    std::cerr << "audit verify: " << result.error << "\n";
    return 1;
  }
  if (result.broken) {
    const auto& b = *result.broken;
    std::cout << "audit verify: BROKEN at seq " << b.seq << " (" << audit::to_string(b.kind)
              << "): " << b.message << "\n"
              << "audit verify: " << result.records << " record(s) verified before the break\n";
    return 1;
  }
  if (result.records == 0) {
    std::cout << "audit verify: OK: no records\n";
    return 0;
  }
  std::cout << "audit verify: OK: " << result.records << " record(s), seq " << result.first_seq
            << ".." << result.last_seq << " in " << files.size() << " file(s)"
            << (result.continues_earlier ? " (the first record continues an earlier file)" : "")
            << "\n"
            << "audit verify: last hash " << result.last_hash
            << " (record it elsewhere to detect a cut tail)\n";
  return 0;
}

struct SummaryArgs {
  std::vector<std::string> files;
  bool json = false;
  std::string since;
  std::string until;
  std::size_t top = 10;
};

int run_summary(const SummaryArgs& args) {
  audit::SummaryOptions options;
  options.top = args.top;
  for (const auto& [text, slot] :
       {std::pair{&args.since, &options.since}, std::pair{&args.until, &options.until}}) {
    if (text->empty()) continue;
    *slot = audit::parse_time(*text);
    if (!*slot) {
      std::cerr << "audit summary: invalid time '" << *text
                << "' (RFC 3339, e.g. 2026-11-26T07:00:00Z, or a date 2026-11-26)\n";
      return 2;
    }
  }
  std::string error;
  const auto summary = audit::summarize(args.files, options, error);
  if (!error.empty()) {
    std::cerr << "audit summary: " << error << "\n";
    return 1;
  }
  if (args.json) {
    std::cout << boost::json::serialize(audit::to_json(summary)) << "\n";
  } else {
    std::cout << audit::to_text(summary);
  }
  return 0;
}

}  // namespace

void register_audit_commands(CLI::App& app, int& exit_code) {
  auto* audit_cmd = app.add_subcommand("audit", "Verify and summarise audit logs");
  audit_cmd->require_subcommand(1);

  auto files = std::make_shared<std::vector<std::string>>();
  auto* verify = audit_cmd->add_subcommand(
      "verify", "Check the hash chain across FILEs (oldest first); exit 1 at the first break");
  verify->add_option("FILE", *files, "Audit log files, oldest first")->required();
  verify->callback([files, &exit_code] { exit_code = run_verify(*files); });

  auto args = std::make_shared<SummaryArgs>();
  auto* summary = audit_cmd->add_subcommand(
      "summary", "Counts by decision and reason, top denied identities, destinations and rules");
  summary->add_option("FILE", args->files, "Audit log files")->required();
  summary->add_flag("--json", args->json, "Print one JSON object");
  summary->add_option("--since", args->since, "Only records at or after this time (RFC 3339)");
  summary->add_option("--until", args->until, "Only records before this time (RFC 3339)");
  summary->add_option("--top", args->top, "Length of each top list")->capture_default_str();
  summary->callback([args, &exit_code] { exit_code = run_summary(*args); });
}

}  // namespace egress::ctl
