#include "ctl/policy_commands.hpp"
#include "base/diagnostic.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "clock/rfc3339.hpp"
#include "ctl/assumed_name.hpp"
#include "ctl/junit_report.hpp"
#include "ctl/replay_commands.hpp"
#include "policy/loader.hpp"
#include "policy/policy.hpp"
#include "policy/store.hpp"
#include "policy_source/directory.hpp"
#include "policy_source/git_revision.hpp"

namespace egress::ctl {
namespace {

using base::Diagnostic;
using policy::Action;
using policy::Decision;

void print_diagnostics(const std::vector<base::Diagnostic>& ds) {
  for (const auto& d : ds) std::cerr << d.to_string() << "\n";
}

// Loads DIR, printing every error; nullptr when it has any.
std::shared_ptr<const policy::Policy> load_or_report(const std::string& dir,
                                                     std::vector<base::Diagnostic>* warnings) {
  auto result = policy_source::load_policy_dir(dir, policy_source::read_git_revision);
  print_diagnostics(result.errors);
  if (!result.errors.empty()) {
    std::cerr << result.errors.size() << " error(s)\n";
    return nullptr;
  }
  if (warnings) *warnings = std::move(result.warnings);
  return result.policy;
}

int run_check(const std::string& dir, bool strict) {
  std::vector<base::Diagnostic> warnings;
  auto p = load_or_report(dir, &warnings);
  if (!p) return 1;
  print_diagnostics(warnings);
  std::cout << dir << ": ok: " << p->rule_count() << " rule(s), version " << p->version();
  if (!warnings.empty()) std::cout << ", " << warnings.size() << " warning(s)";
  std::cout << "\n";
  return strict && !warnings.empty() ? 1 : 0;
}

struct ExplainArgs {
  std::string dir;
  std::string dst;
  std::string src = "0.0.0.0";
  std::string identity;
  std::vector<std::string> dns_names;
  std::string cn;
  std::string at;
  std::string host;
  std::vector<std::string> resolves_to;  ///< given = the name resolves to these
  bool resolves_to_given = false;
  bool ech = false;
  bool json = false;
};

// The name facts' summary for output: "api.stripe.com (mismatch)".
std::string name_summary(std::string_view host, policy::NameVerification v) {
  if (host.empty()) return "(none)";
  return std::string(host) + " (" + std::string(policy::to_string(v)) + ")";
}

std::string rule_ref(const policy::Policy& p, std::string_view id) {
  const auto* r = p.find_rule(id);
  if (!r) return std::string(id);
  return std::string(id) + " (" + r->file + ":" + std::to_string(r->line) +
         (r->report ? ", report mode" : "") + ")";
}

// Facts for explain / test: an identity exists when any identity field was given.
base::Identity make_identity(const std::string& id, const std::vector<std::string>& dns,
                             const std::string& cn) {
  base::Identity identity;
  identity.spiffe_id = id;
  if (!id.empty()) identity.uri_sans.push_back(id);
  identity.dns_sans = dns;
  identity.common_name = cn;
  identity.fingerprint_sha256 = "egressctl";  // marks the identity as present
  return identity;
}

int run_explain(const ExplainArgs& a) {
  auto dst = base::Endpoint::parse(a.dst);
  if (!dst) {
    std::cerr << "policy explain: --dst \"" << a.dst
              << "\" is not IP:PORT (IPv6 in brackets: [2001:db8::1]:443)\n";
    return 2;
  }
  auto src = base::IpAddress::parse(a.src);
  if (!src) {
    std::cerr << "policy explain: --src \"" << a.src << "\" is not an IP address\n";
    return 2;
  }
  auto now = std::chrono::system_clock::now();
  if (!a.at.empty()) {
    auto t = clock::parse_rfc3339(a.at);
    if (!t) {
      std::cerr << "policy explain: --at \"" << a.at << "\" is not " << clock::kRfc3339Expected
                << "\n";
      return 2;
    }
    now = *t;
  }
  std::optional<std::vector<base::IpAddress>> answers;
  if (a.resolves_to_given) {
    answers.emplace();
    for (const auto& text : a.resolves_to) {
      auto addr = base::IpAddress::parse(text);
      if (!addr) {
        std::cerr << "policy explain: --resolves-to \"" << text << "\" is not an IP address\n";
        return 2;
      }
      answers->push_back(*addr);
    }
  }
  if (a.host.empty() && (a.resolves_to_given || a.ech)) {
    std::cerr << "policy explain: --resolves-to and --ech need --host (the name the client sent)\n";
    return 2;
  }
  auto p = load_or_report(a.dir, nullptr);
  if (!p) return 1;
  const bool has_identity = !a.identity.empty() || !a.dns_names.empty() || !a.cn.empty();
  const auto identity = make_identity(a.identity, a.dns_names, a.cn);
  policy::ConnectionFacts facts{
      *src,
      dst->address,
      dst->port,
      has_identity ? &identity : nullptr,
      now,
      a.host,
      assumed_verification(a.host, answers, dst->address, p->host_verification())};
  const bool waits = p->may_depend_on_name(facts);
  const Decision d = p->evaluate(facts);
  const Action shadow = d.shadow_action.value_or(d.action);
  const std::string_view shadow_rule = d.shadow_action ? d.shadow_rule_id : d.rule_id;
  if (a.json) {
    boost::json::object o;
    o["src"] = src->to_string();
    o["dst"] = dst->to_string();
    if (has_identity) {
      boost::json::object id;
      id["spiffe_id"] = a.identity;
      boost::json::array dns;
      for (const auto& n : a.dns_names) dns.emplace_back(n);
      id["dns_sans"] = std::move(dns);
      id["cn"] = a.cn;
      o["identity"] = std::move(id);
    } else {
      o["identity"] = nullptr;
    }
    o["at"] = clock::format_rfc3339(now);
    o["host"] = a.host.empty() ? boost::json::value(nullptr) : boost::json::value(a.host);
    if (answers) {
      boost::json::array list;
      for (const auto& addr : *answers) list.emplace_back(addr.to_string());
      o["resolves_to"] = std::move(list);
    }
    if (a.ech) o["ech"] = true;
    o["name_verified"] = policy::to_string(facts.name_verification);
    o["host_verification"] = policy::to_string(p->host_verification());
    o["may_depend_on_name"] = waits;
    o["name_used"] = d.name_used;
    o["verification_changed"] = d.verification_changed;
    o["unverified_rule"] = d.unverified_rule_id.empty() ? boost::json::value(nullptr)
                                                        : boost::json::value(d.unverified_rule_id);
    o["decision"] = policy::to_string(d.action);
    o["reason"] = policy::to_string(d.reason);
    if (!d.rule_id.empty()) {
      o["rule"] = d.rule_id;
      o["rule_file"] = d.rule_file;
      o["rule_line"] = d.rule_line;
    } else {
      o["rule"] = nullptr;
    }
    boost::json::object sh;
    sh["decision"] = policy::to_string(shadow);
    sh["rule"] =
        shadow_rule.empty() ? boost::json::value(nullptr) : boost::json::value(shadow_rule);
    sh["differs"] = d.shadow_action.has_value();
    o["shadow"] = std::move(sh);
    o["policy_version"] = d.policy_version;
    std::cout << boost::json::serialize(o) << "\n";
    return 0;
  }
  std::cout << "decision: " << policy::to_string(d.action) << "\n";
  std::cout << "reason:   " << policy::to_string(d.reason) << "\n";
  if (!d.rule_id.empty()) std::cout << "rule:     " << rule_ref(*p, d.rule_id) << "\n";
  std::cout << "name:     " << name_summary(a.host, facts.name_verification);
  if (a.ech) std::cout << " [ech: decided on the outer SNI]";
  std::cout << ", host_verification: " << policy::to_string(p->host_verification()) << "\n";
  if (p->has_host_rules()) {
    std::cout << "          "
              << (waits ? "a hostname rule may match: the gateway waits for the name"
                        : "no hostname rule can match: decided without waiting for the name")
              << (d.name_used ? "; the name decided" : "") << "\n";
  }
  if (d.verification_changed) {
    std::cout << "          the name alone would give "
              << (d.unverified_rule_id.empty() ? std::string("the default")
                                               : "rule " + rule_ref(*p, d.unverified_rule_id))
              << (p->host_verification() == policy::HostVerification::report
                      ? "; the shadow requires a verified name"
                      : "; not verified, so it does not match")
              << "\n";
  }
  std::cout << "shadow:   " << policy::to_string(shadow);
  if (!shadow_rule.empty()) std::cout << " (rule " << shadow_rule << ")";
  if (!d.shadow_action) {
    std::cout << " (same)\n";
  } else if (d.verification_changed && p->host_verification() == policy::HostVerification::report) {
    std::cout << " [differs: host_verification: report, the name is not verified]\n";
  } else {
    std::cout << " [differs: a report-mode rule or report mode]\n";
  }
  if (p->report_mode()) std::cout << "mode:     report (Settings.mode: every decision is allow)\n";
  std::cout << "policy:   " << d.policy_version << "\n";
  return 0;
}

std::string describe(const Decision& d) {
  std::string s(policy::to_string(d.action));
  if (!d.rule_id.empty()) {
    s += " by rule " + std::string(d.rule_id);
  } else {
    s += " (" + std::string(policy::to_string(d.reason)) + ")";
  }
  if (d.shadow_action) {
    s += ", shadow " + std::string(policy::to_string(*d.shadow_action));
    if (!d.shadow_rule_id.empty()) s += " by rule " + std::string(d.shadow_rule_id);
  }
  return s;
}

// A case's name in the JUnit report: its own name, else where it is.
std::string junit_name(const policy::model::TestCase& c) {
  return c.name.empty() ? c.pos.file + ":" + std::to_string(c.pos.line) : c.name;
}

int run_test(const std::string& dir, const std::string& test_dir, const std::string& junit) {
  auto p = load_or_report(dir, nullptr);
  if (!p) return 1;
  std::vector<policy::model::TestCase> cases;
  if (!test_dir.empty()) {
    auto parsed = policy_source::load_test_dir(test_dir);
    print_diagnostics(parsed.errors);
    if (!parsed.errors.empty()) {
      std::cerr << parsed.errors.size() << " error(s)\n";
      return 1;
    }
    cases = std::move(parsed.model.tests);
  } else {
    cases = p->model().tests;
  }
  if (cases.empty()) {
    std::cerr << "no PolicyTest cases found in " << (test_dir.empty() ? dir : test_dir) << "\n";
    std::cout << "0 passed, 0 failed\n";
    return 1;
  }
  const auto now = std::chrono::system_clock::now();
  std::size_t passed = 0, failed = 0;
  JunitReport report;
  for (const auto& c : cases) {
    const bool has_identity = !c.identity.empty() || !c.dns_names.empty() || !c.cn.empty();
    const auto identity = make_identity(c.identity, c.dns_names, c.cn);
    policy::ConnectionFacts facts{
        c.src,
        c.dst.address,
        c.dst.port,
        has_identity ? &identity : nullptr,
        c.at.value_or(now),
        c.host,
        assumed_verification(c.host, c.resolves_to, c.dst.address, p->host_verification())};
    const Decision d = p->evaluate(facts);
    std::vector<std::string> problems;
    if (d.action != c.expect) {
      problems.push_back("expected " + std::string(policy::to_string(c.expect)));
    }
    if (c.rule && d.rule_id != *c.rule) {
      problems.push_back("expected rule " + (c.rule->empty() ? "(none)" : *c.rule));
    }
    const Action shadow = d.shadow_action.value_or(d.action);
    if (c.shadow && shadow != *c.shadow) {
      problems.push_back("expected shadow " + std::string(policy::to_string(*c.shadow)));
    }
    if (problems.empty()) {
      ++passed;
      report.add_case(c.pos.file, junit_name(c));
      continue;
    }
    ++failed;
    std::string msg;
    for (const auto& pr : problems) msg += (msg.empty() ? "" : ", ") + pr;
    const std::string line =
        c.pos.file + ":" + std::to_string(c.pos.line) + ": FAIL" +
        (c.name.empty() ? "" : " \"" + c.name + "\"") + ": " + c.src.to_string() + " -> " +
        c.dst.to_string() +
        (c.host.empty() ? "" : " host " + name_summary(c.host, facts.name_verification)) + ": " +
        msg + "; got " + describe(d);
    std::cout << line << "\n";
    report.add_case(c.pos.file, junit_name(c), msg + "; got " + describe(d), line);
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  if (!junit.empty()) {
    if (const auto error = report.write(junit)) {
      std::cerr << "policy test: --junit: " << *error << "\n";
      return 1;
    }
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

void register_policy_commands(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "policy", "Check, explain, test a policy directory; replay the audit log against it");
  cmd->require_subcommand(1);

  struct CheckArgs {
    std::string dir;
    bool strict = false;
  };
  auto check_args = std::make_shared<CheckArgs>();
  auto* check = cmd->add_subcommand(
      "check", "Validate DIR (exit 1 on any error, every error reported) and lint it (warnings)");
  check->add_option("DIR", check_args->dir, "Policy directory")->required();
  check->add_flag("--strict", check_args->strict, "Warnings fail too (exit 1)");
  check->callback(
      [check_args, &exit_code] { exit_code = run_check(check_args->dir, check_args->strict); });

  auto ea = std::make_shared<ExplainArgs>();
  auto* explain = cmd->add_subcommand(
      "explain", "The decision for one connection: reason, rule (file:line) and shadow");
  explain->add_option("DIR", ea->dir, "Policy directory")->required();
  explain->add_option("--dst", ea->dst, "Destination IP:PORT ([v6]:port)")->required();
  explain->add_option("--src", ea->src, "Client address")->capture_default_str();
  explain->add_option("--identity", ea->identity, "Client SPIFFE ID / URI SAN");
  explain->add_option("--dns-name", ea->dns_names, "Client DNS SAN (repeatable)");
  explain->add_option("--cn", ea->cn, "Client certificate subject CN");
  explain->add_option("--at", ea->at, "Evaluate at this time (RFC 3339; default now)");
  explain->add_option("--host", ea->host, "The name the client sent (TLS SNI or HTTP Host)");
  explain
      ->add_option("--resolves-to", ea->resolves_to,
                   "DNS answers to assume for --host (ADDR,ADDR); absent = it does not resolve")
      ->delimiter(',')
      ->each([ea](const std::string&) { ea->resolves_to_given = true; });
  explain->add_flag("--ech", ea->ech, "The ClientHello had ECH (--host is its outer SNI)");
  explain->add_flag("--json", ea->json, "Print one JSON object");
  explain->callback([ea, &exit_code] { exit_code = run_explain(*ea); });

  struct TestArgs {
    std::string dir;
    std::string test_dir;
    std::string junit;
  };
  auto ta = std::make_shared<TestArgs>();
  auto* test = cmd->add_subcommand(
      "test", "Run the PolicyTest cases of DIR (or of TESTDIR against DIR); exit 1 on a failure");
  test->add_option("DIR", ta->dir, "Policy directory")->required();
  test->add_option("TESTDIR", ta->test_dir, "Directory of PolicyTest files (default: DIR)");
  test->add_option("--junit", ta->junit,
                   "Also write a JUnit XML report to FILE (a testsuite per test file, a testcase "
                   "per case)");
  test->callback([ta, &exit_code] { exit_code = run_test(ta->dir, ta->test_dir, ta->junit); });

  register_replay_commands(*cmd, exit_code);
}

}  // namespace egress::ctl
