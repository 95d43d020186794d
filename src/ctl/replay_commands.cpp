#include "ctl/replay_commands.hpp"

#include <boost/json/serialize.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "audit/summary.hpp"
#include "ctl/replay.hpp"
#include "ctl/replay_report.hpp"
#include "ctl/unused_rules.hpp"
#include "policy_source/directory.hpp"
#include "policy_source/git_revision.hpp"

namespace egress::ctl {
namespace {

struct CommonArgs {
  std::vector<std::string> files;
  std::string since;
  std::string until;
  std::string format = "text";
  bool no_verify = false;
};

struct ReplayArgs : CommonArgs {
  std::string dir;
  std::string baseline;
  std::string fail_on = "any";
  std::size_t max_groups = 1000;
};

struct UnusedArgs : CommonArgs {
  std::string dir;
};

// Loads DIR, printing every error (prefixed with the command); nullptr when it has any.
std::shared_ptr<const policy::Policy> load(const char* command, const std::string& dir) {
  auto result = policy_source::load_policy_dir(dir, policy_source::read_git_revision);
  for (const auto& d : result.errors) std::cerr << d.to_string() << "\n";
  if (!result.errors.empty()) {
    std::cerr << command << ": " << dir << ": " << result.errors.size() << " error(s)\n";
    return nullptr;
  }
  return result.policy;
}

// The common flags into `input`; false (after saying why) on a usage error.
bool read_common(const char* command, const CommonArgs& a, AuditInput& input) {
  input.files = a.files;
  input.verify = !a.no_verify;
  for (const auto& [text, slot, flag] : {std::tuple{&a.since, &input.since, "--since"},
                                         std::tuple{&a.until, &input.until, "--until"}}) {
    if (text->empty()) continue;
    *slot = audit::parse_time(*text);
    if (!*slot) {
      std::cerr << command << ": " << flag << " \"" << *text
                << "\" is not a time (RFC 3339, e.g. 2026-11-26T07:00:00Z, or a date 2026-11-26)\n";
      return false;
    }
  }
  return true;
}

int run_replay(const ReplayArgs& a) {
  ReplayInput input;
  if (!read_common("policy replay", a, input)) return 2;
  input.max_groups = a.max_groups;
  const auto proposed = load("policy replay", a.dir);
  if (!proposed) return 2;
  std::shared_ptr<const policy::Policy> baseline;
  if (!a.baseline.empty()) {
    baseline = load("policy replay", a.baseline);
    if (!baseline) return 2;
  }
  const auto report = replay(input, *proposed, baseline.get());
  if (!report.error.empty()) {
    std::cerr << "policy replay: refused: " << report.error << "\n";
    return 2;
  }
  const ReplaySubject subject{a.dir, proposed->version(), a.baseline,
                              baseline ? baseline->version() : std::string(), a.files.size()};
  if (a.format == "json") {
    std::cout << boost::json::serialize(to_json(report, subject)) << "\n";
  } else if (a.format == "markdown") {
    std::cout << to_markdown(report, subject);
  } else {
    std::cout << to_text(report, subject);
  }
  const auto& t = report.totals;
  const bool fail = a.fail_on == "tighten" ? t.tighten > 0
                    : a.fail_on == "widen" ? t.widen > 0
                    : a.fail_on == "any"   ? t.tighten + t.widen + t.rule_changed > 0
                                           : false;
  return fail ? 1 : 0;
}

int run_unused(const UnusedArgs& a) {
  AuditInput input;
  if (!read_common("policy unused", a, input)) return 2;
  const auto p = load("policy unused", a.dir);
  if (!p) return 2;
  const auto report = find_unused(input, *p);
  if (!report.counts.error.empty()) {
    std::cerr << "policy unused: refused: " << report.counts.error << "\n";
    return 2;
  }
  if (a.format == "json") {
    std::cout << boost::json::serialize(to_json(report, a.dir, *p)) << "\n";
  } else {
    std::cout << to_text(report, a.dir, *p, a.files.size());
  }
  return report.unused_count() > 0 ? 1 : 0;
}

void add_common(CLI::App* cmd, CommonArgs& a, std::vector<std::string> formats) {
  cmd->add_option("--audit", a.files, "Audit files, oldest first (plain or .gz)")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--since", a.since, "Only records at or after this time (RFC 3339 or a date)");
  cmd->add_option("--until", a.until, "Only records before this time (RFC 3339 or a date)");
  cmd->add_option("--format", a.format, "Output format")
      ->check(CLI::IsMember(std::move(formats)))
      ->capture_default_str();
  cmd->add_flag("--no-verify", a.no_verify,
                "Do not check the hash chain (read a log that is known to be cut or edited)");
}

}  // namespace

void register_replay_commands(CLI::App& policy_cmd, int& exit_code) {
  auto ra = std::make_shared<ReplayArgs>();
  auto* replay_cmd = policy_cmd.add_subcommand(
      "replay",
      "Decide the audit log's decisions again with PROPOSED_DIR and list what changes (exit 1 on "
      "a change of the --fail-on kind, 2 on a usage error or a broken chain)");
  replay_cmd->add_option("PROPOSED_DIR", ra->dir, "The proposed policy directory")->required();
  add_common(replay_cmd, *ra, {"text", "json", "markdown"});
  replay_cmd->add_option("--baseline", ra->baseline,
                         "Compare with this policy's decisions instead of the recorded ones");
  replay_cmd->add_option("--fail-on", ra->fail_on, "Which changes make the exit code 1")
      ->check(CLI::IsMember({"tighten", "widen", "any", "none"}))
      ->capture_default_str();
  replay_cmd
      ->add_option("--max-groups", ra->max_groups,
                   "Groups listed at most; the rest are counted (\"and N more groups\")")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  replay_cmd->callback([ra, &exit_code] { exit_code = run_replay(*ra); });

  auto ua = std::make_shared<UnusedArgs>();
  auto* unused_cmd = policy_cmd.add_subcommand(
      "unused",
      "The rules, Roles and Destinations of DIR that decided nothing in the audit files; for "
      "report-mode rules how often they would have decided (exit 1 when something is unused)");
  unused_cmd->add_option("DIR", ua->dir, "Policy directory")->required();
  add_common(unused_cmd, *ua, {"text", "json"});
  unused_cmd->callback([ua, &exit_code] { exit_code = run_unused(*ua); });
}

}  // namespace egress::ctl
