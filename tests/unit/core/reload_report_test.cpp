#include "core/reload_report.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/audit_records.hpp"

namespace egress::core {
namespace {

using namespace std::chrono_literals;

tls::ContextError crl_error() {
  return {"crl", "/etc/egressd/crl.pem", "CRL of \"CN=Dev CA\" is out of date"};
}

tls::ContextError key_error() {
  return {"key", "/etc/egressd/gw.key", "private key does not match the certificate"};
}

ReloadReport policy_ok() {
  ReloadReport r;
  r.at = std::chrono::system_clock::time_point{} + 1'800'000'000s;
  r.policy_version = "sha256:new";
  r.rule_count = 7;
  return r;
}

TEST(ReloadReport, EveryPartOkIsOk) {
  auto r = policy_ok();
  r.add_listener("listeners[0].tls", std::nullopt, true);
  r.crl_next_update = "2027-01-01T00:00:00Z";
  EXPECT_TRUE(r.ok());
  const auto rec = reload_record(r);
  EXPECT_TRUE(rec.ok);
  EXPECT_EQ(rec.version, "sha256:new");
  EXPECT_EQ(rec.rule_count, 7u);
  EXPECT_TRUE(rec.errors.empty());
  ASSERT_EQ(rec.parts.size(), 3u);
  EXPECT_EQ(rec.parts[0].name, "policy");
  EXPECT_EQ(rec.parts[0].result, "ok");
  EXPECT_EQ(rec.parts[0].version, "sha256:new");
  EXPECT_EQ(rec.parts[0].rule_count, 7u);
  EXPECT_EQ(rec.parts[1].name, "tls");
  EXPECT_EQ(rec.parts[1].result, "ok");
  EXPECT_EQ(rec.parts[2].name, "crl");
  EXPECT_EQ(rec.parts[2].result, "ok");
  EXPECT_EQ(rec.parts[2].next_update, "2027-01-01T00:00:00Z");
}

TEST(ReloadReport, NoTlsListenerMeansNoTlsOrCrlPart) {
  auto r = policy_ok();
  const auto rec = reload_record(r);
  ASSERT_EQ(rec.parts.size(), 1u);
  EXPECT_EQ(rec.parts[0].name, "policy");
  // A TLS listener without crl: a tls part, no crl part.
  r.add_listener("listeners[0].tls", std::nullopt, false);
  ASSERT_EQ(reload_record(r).parts.size(), 2u);
  EXPECT_EQ(reload_record(r).parts[1].name, "tls");
}

TEST(ReloadReport, ABadCrlFailsTheReloadNamingTheCrlPart) {
  // The bug: the record said ok while the new CRL was refused.
  auto r = policy_ok();
  r.add_listener("listeners[0].tls", crl_error(), true);
  EXPECT_FALSE(r.ok());
  const auto rec = reload_record(r);
  EXPECT_FALSE(rec.ok);
  const std::string msg =
      "listeners[0].tls.crl: /etc/egressd/crl.pem: CRL of \"CN=Dev CA\" is out of date";
  EXPECT_EQ(rec.errors, std::vector<std::string>{msg});
  EXPECT_EQ(rec.parts[0].result, "ok") << "the good policy is applied";
  EXPECT_EQ(rec.parts[1].result, "skipped") << "the context is swapped whole";
  EXPECT_TRUE(rec.parts[1].errors.empty());
  EXPECT_EQ(rec.parts[2].result, "failed");
  EXPECT_EQ(rec.parts[2].errors, std::vector<std::string>{msg});
}

TEST(ReloadReport, ABadKeyFailsTheTlsPartAndSkipsTheCrl) {
  auto r = policy_ok();
  r.add_listener("listeners[0].tls", key_error(), true);
  const auto rec = reload_record(r);
  EXPECT_FALSE(rec.ok);
  EXPECT_EQ(rec.parts[1].result, "failed");
  EXPECT_EQ(rec.parts[1].errors,
            std::vector<std::string>{"listeners[0].tls.key: /etc/egressd/gw.key: private key does "
                                     "not match the certificate"});
  EXPECT_EQ(rec.parts[2].result, "skipped");
}

TEST(ReloadReport, ListenersCombineWorstFirst) {
  auto r = policy_ok();
  r.add_listener("listeners[0].tls", std::nullopt, true);
  r.add_listener("listeners[1].tls", crl_error(), true);
  r.add_listener("listeners[2].tls", std::nullopt, false);
  EXPECT_EQ(r.tls->result, PartResult::skipped);
  EXPECT_EQ(r.crl->result, PartResult::failed);
  ASSERT_EQ(r.crl->errors.size(), 1u);
  EXPECT_EQ(r.crl->errors[0].rfind("listeners[1].tls.crl: ", 0), 0u) << r.crl->errors[0];
  r.add_listener("listeners[3].tls", key_error(), false);
  EXPECT_EQ(r.tls->result, PartResult::failed) << "failed outranks skipped";
}

TEST(ReloadReport, AFailedPolicyWithGoodTlsSaysSoPerPart) {
  auto r = policy_ok();
  r.policy_version = "sha256:old";
  r.policy.result = PartResult::failed;
  r.policy.errors = {"10-rules.yaml:3:5: rules[0].form: unknown key"};
  r.add_listener("listeners[0].tls", std::nullopt, true);
  const auto rec = reload_record(r);
  EXPECT_FALSE(rec.ok);
  EXPECT_EQ(rec.version, "sha256:old");
  EXPECT_EQ(rec.errors, r.policy.errors) << "top-level errors keep the policy errors";
  EXPECT_EQ(rec.parts[0].result, "failed");
  EXPECT_EQ(rec.parts[1].result, "ok");
  EXPECT_EQ(rec.parts[2].result, "ok");
}

TEST(ReloadReport, LiveRedecisionCountsAreThePolicyPartsOwn) {
  auto r = policy_ok();
  EXPECT_FALSE(to_json(r).at("parts").at("policy").as_object().contains("redecided"));
  EXPECT_FALSE(reload_record(r).parts[0].redecided);
  r.live = LiveRedecision{10, 2, 0};
  const auto rec = reload_record(r);
  EXPECT_EQ(rec.parts[0].redecided, 10u);
  EXPECT_EQ(rec.parts[0].revoked, 2u);
  EXPECT_FALSE(rec.parts[0].redecide_unanswered);  // every worker answered
  const auto o = to_json(r);
  const auto& policy = o.at("parts").at("policy").as_object();
  EXPECT_EQ(policy.at("redecided").to_number<std::int64_t>(), 10);
  EXPECT_EQ(policy.at("revoked").to_number<std::int64_t>(), 2);
  EXPECT_FALSE(policy.contains("redecide_unanswered"));
  r.live->unanswered = 1;
  EXPECT_EQ(reload_record(r).parts[0].redecide_unanswered, 1u);
  EXPECT_EQ(to_json(r).at("parts").at("policy").at("redecide_unanswered").to_number<std::int64_t>(),
            1);
}

// Issue 21: a CRL reload checks the live client certificates whatever policy.on_change says; its
// counts are the crl part's own, in the record and in GET /policy alike.
TEST(ReloadReport, LiveCertificateCountsAreTheCrlPartsOwn) {
  auto r = policy_ok();
  r.add_listener("listeners[0].tls", std::nullopt, true);
  EXPECT_FALSE(reload_record(r).parts[2].checked);
  EXPECT_FALSE(to_json(r).at("parts").at("crl").as_object().contains("checked"));
  r.crl_live = LiveCertCheck{7, 1, 0};
  const auto rec = reload_record(r);
  ASSERT_EQ(rec.parts[2].name, "crl");
  EXPECT_EQ(rec.parts[2].checked, 7u);
  EXPECT_EQ(rec.parts[2].revoked, 1u);
  EXPECT_FALSE(rec.parts[2].check_unanswered);
  EXPECT_FALSE(rec.parts[0].revoked) << "the policy part has no counts without live";
  const auto o = to_json(r);
  const auto& crl = o.at("parts").at("crl").as_object();
  EXPECT_EQ(crl.at("checked").to_number<std::int64_t>(), 7);
  EXPECT_EQ(crl.at("revoked").to_number<std::int64_t>(), 1);
  EXPECT_FALSE(crl.contains("check_unanswered"));
  r.crl_live->unanswered = 2;
  EXPECT_EQ(reload_record(r).parts[2].check_unanswered, 2u);
  EXPECT_EQ(to_json(r).at("parts").at("crl").at("check_unanswered").to_number<std::int64_t>(), 2);
}

TEST(ReloadReport, PolicyJsonCarriesThePerPartResult) {
  auto r = policy_ok();
  r.add_listener("listeners[0].tls", crl_error(), true);
  r.crl_next_update = "2027-01-01T00:00:00Z";
  const auto o = to_json(r);
  EXPECT_EQ(o.at("result").as_string(), "failed");
  EXPECT_EQ(o.at("at").as_string(), "2027-01-15T08:00:00Z");
  EXPECT_EQ(o.at("errors").as_array().size(), 1u);
  const auto& parts = o.at("parts").as_object();
  EXPECT_EQ(parts.at("policy").at("result").as_string(), "ok");
  EXPECT_EQ(parts.at("policy").at("version").as_string(), "sha256:new");
  EXPECT_EQ(parts.at("policy").at("rule_count").to_number<std::int64_t>(), 7);
  EXPECT_EQ(parts.at("tls").at("result").as_string(), "skipped");
  EXPECT_EQ(parts.at("crl").at("result").as_string(), "failed");
  EXPECT_EQ(parts.at("crl").at("next_update").as_string(), "2027-01-01T00:00:00Z");
  EXPECT_EQ(parts.at("crl").at("errors").as_array()[0].as_string(),
            "listeners[0].tls.crl: /etc/egressd/crl.pem: CRL of \"CN=Dev CA\" is out of date");
}

TEST(CrlReadiness, NotReadyOnceTheNextUpdateHasPassed) {
  const auto next = std::chrono::system_clock::time_point{} + 1'800'000'000s;
  const std::string text = "2027-01-15T08:00:00Z";
  EXPECT_FALSE(crl_not_ready_reason("listeners[0].tls.crl", text, next - 1s));
  const auto why = crl_not_ready_reason("listeners[0].tls.crl", text, next);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("listeners[0].tls.crl"), std::string::npos) << *why;
  EXPECT_NE(why->find("past its nextUpdate (2027-01-15T08:00:00Z)"), std::string::npos) << *why;
  EXPECT_TRUE(crl_not_ready_reason("listeners[0].tls.crl", text, next + 1h));
  // No CRL (or none with a nextUpdate): nothing to expire.
  EXPECT_FALSE(crl_not_ready_reason("listeners[0].tls.crl", "", next));
  // A time that cannot be read is not trusted to be in the future.
  EXPECT_TRUE(crl_not_ready_reason("listeners[0].tls.crl", "not a time", next - 1h));
}

}  // namespace
}  // namespace egress::core
