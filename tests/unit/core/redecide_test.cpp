#include "core/redecide.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <list>
#include <thread>

#include "clock/rfc3339.hpp"
#include "core/connection.hpp"
#include "core/runtime.hpp"
#include "core/worker.hpp"
#include "filters/policy_filter.hpp"
#include "policy/policy.hpp"
#include "policy_source/directory.hpp"
#include "test_certs.hpp"
#include "tls/context.hpp"
#include "tls/identity.hpp"

namespace egress::core {
namespace {

namespace asio = boost::asio;

constexpr const char* kAllowWeb = R"(kind: Settings
default: deny
---
kind: Rule
id: allow-web
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.0/24], ports: [80]}]
---
kind: Rule
id: allow-api
action: allow
from: [{any: true}]
to: [{hosts: [api.example.com], ports: [443]}]
)";

/// Policies compiled from YAML text, as the gateway loads them (a directory, a store).
class Policies {
 public:
  Policies()
      : dir_(std::filesystem::temp_directory_path() /
             ("egress-redecide-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir_);
    store_ = std::make_unique<policy::PolicyStore>(dir_, policy_source::directory_loader(dir_));
  }
  ~Policies() { std::filesystem::remove_all(dir_); }

  std::shared_ptr<const policy::Policy> load(const std::string& yaml) {
    std::ofstream(dir_ / "policy.yaml", std::ios::trunc) << yaml;
    const auto r = store_->reload();
    EXPECT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    return store_->current();
  }
  const policy::PolicyStore& store() const { return *store_; }
  policy::PolicyStore& store() { return *store_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<policy::PolicyStore> store_;
};

filters::ListenerInfo listener() {
  filters::ListenerInfo l;
  l.config.name = "egress";
  return l;
}

void set(filters::Facts& f, const char* src, const char* dst) {
  f.src = *base::Endpoint::parse(src);
  f.dst = *base::Endpoint::parse(dst);
}

const auto kNow = std::chrono::system_clock::now();

TEST(Redecide, StillAllowedStays) {
  Policies p;
  const auto l = listener();
  filters::Facts f(1, l);
  set(f, "192.0.2.2:40000", "203.0.113.10:80");
  EXPECT_FALSE(redecide(f, *p.load(kAllowWeb), kNow));
}

TEST(Redecide, RemovedRuleRevokesByTheDefault) {
  Policies p;
  const auto l = listener();
  filters::Facts f(1, l);
  set(f, "192.0.2.2:40000", "203.0.113.10:80");
  const auto next = p.load(R"(kind: Settings
default: deny
)");
  const auto why = redecide(f, *next, kNow);
  ASSERT_TRUE(why);
  EXPECT_EQ(why->reason, base::Reason::policy_revoked);
  EXPECT_EQ(why->rule, "");
  EXPECT_EQ(why->detail, "now denied by default (policy " + next->version() + ")");
}

TEST(Redecide, ADenyRuleRevokesNamingIt) {
  Policies p;
  const auto l = listener();
  filters::Facts f(1, l);
  set(f, "192.0.2.2:40000", "203.0.113.10:80");
  const auto next = p.load(std::string(kAllowWeb) + R"(---
kind: Rule
id: block-10
action: deny
from: [{any: true}]
to: [{cidrs: [203.0.113.10/32]}]
)");
  const auto why = redecide(f, *next, kNow);
  ASSERT_TRUE(why);
  EXPECT_EQ(why->rule, "block-10");
  EXPECT_EQ(why->detail, "now denied by rule 'block-10' (policy " + next->version() + ")");
}

TEST(Redecide, TheNameAndItsVerificationAreTheOnesDecidedWith) {
  Policies p;
  const auto policy = p.load(kAllowWeb);
  const auto l = listener();
  filters::Facts f(1, l);
  set(f, "192.0.2.2:40000", "198.51.100.7:443");
  f.name.emplace();
  f.name->host = "api.example.com";
  f.name->source = filters::NameSource::sni;
  f.name->verified = policy::NameVerification::match;
  EXPECT_FALSE(redecide(f, *policy, kNow));
  // No DNS in the re-decision: a name that did not verify then does not verify now.
  f.name->verified = policy::NameVerification::mismatch;
  const auto why = redecide(f, *policy, kNow);
  ASSERT_TRUE(why);
  EXPECT_EQ(why->rule, "");
  EXPECT_NE(why->detail.find("now denied by name_mismatch"), std::string::npos) << why->detail;
}

TEST(Redecide, TheTimeIsNowSoAnExpiredRuleNoLongerAllows) {
  Policies p;
  const auto policy = p.load(R"(kind: Settings
default: deny
---
kind: Rule
id: temporary
action: allow
expires: 2030-01-01T00:00:00Z
from: [{any: true}]
to: [{cidrs: [203.0.113.0/24]}]
)");
  const auto l = listener();
  filters::Facts f(1, l);
  set(f, "192.0.2.2:40000", "203.0.113.10:80");
  EXPECT_FALSE(redecide(f, *policy, kNow));
  const auto later = *clock::parse_rfc3339("2030-01-01T00:00:01Z");
  EXPECT_TRUE(redecide(f, *policy, later));
}

/// An audit log that takes every record and keeps none.
class NullAuditLog final : public audit::AuditLog {
 public:
  void submit(audit::Record, audit::WrittenCallback on_written) override {
    if (on_written) on_written({audit::WriteOutcome::written});
  }
  bool healthy() const noexcept override { return true; }
  void reopen() override {}
  void close() override {}
  audit::Stats stats() const noexcept override { return {}; }
  const audit::Options& options() const noexcept override { return options_; }

 private:
  audit::Options options_;
};

// A worker re-decides its relayed connections in slices, on its own thread: a handler posted
// after the request runs before the last slice, and a connection that leaves between slices
// (unlink) is skipped without losing the rest of the list.
TEST(WorkerRedecide, SlicesCountsAndSurvivesConnectionsLeavingBetweenSlices) {
  Policies p;
  p.load(kAllowWeb);
  config::GatewayConfig config;
  config.workers = 1;
  NullAuditLog audit;
  Runtime runtime(config, audit, p.store());
  Worker worker(0, runtime);
  const auto l = listener();

  constexpr std::size_t kCount = 3 * Worker::kRedecideSlice + 10;
  std::list<Connection> conns;  // linked at the head: the worker sees the last one first
  for (std::size_t i = 0; i < kCount; ++i) {
    auto& c = conns.emplace_back(asio::ip::tcp::socket(worker.io()), i + 1, l);
    // Every third to port 8080 (the new policy denies it); every seventh never relayed.
    set(c.facts, "192.0.2.2:40000", i % 3 == 0 ? "203.0.113.10:8080" : "203.0.113.10:80");
    c.relaying = i % 7 != 0;
    worker.link(c);
  }
  std::vector<Connection*> order;  // the worker's order
  for (auto it = conns.rbegin(); it != conns.rend(); ++it) order.push_back(&*it);

  const auto next = p.load(kAllowWeb);
  std::promise<RedecideCounts> answer;
  bool done = false;
  bool done_before_marker = false;
  // Both are queued before the worker's thread starts, so the marker runs right after the first
  // slice, whose continuation is then queued behind the marker (started first, the thread could
  // run the first slice and queue the second before the marker was posted).
  worker.redecide(next, [&](RedecideCounts c) {
    done = true;
    answer.set_value(c);
  });
  // The first slice has run when this does; the next is queued behind it.
  asio::post(worker.io(), [&] {
    done_before_marker = done;
    worker.unlink(*order[Worker::kRedecideSlice]);  // the next one the worker would look at
    worker.unlink(*order[Worker::kRedecideSlice + 1]);
  });
  worker.start();
  auto f = answer.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const RedecideCounts counts = f.get();
  worker.join();
  EXPECT_FALSE(done_before_marker);

  RedecideCounts want;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const Connection& c = *order[k];
    const bool left = k == Worker::kRedecideSlice || k == Worker::kRedecideSlice + 1;
    const bool denied = c.facts.dst->port == 8080;
    if (left || !c.relaying) {
      EXPECT_FALSE(c.revoked()) << k;
      continue;
    }
    ++want.redecided;
    if (denied) ++want.revoked;
    EXPECT_EQ(c.revoked().has_value(), denied) << k;
    EXPECT_EQ(c.force_closed(), denied) << k;
  }
  EXPECT_GT(want.revoked, 0u);
  EXPECT_EQ(counts.redecided, want.redecided);
  EXPECT_EQ(counts.revoked, want.revoked);
  for (auto& c : conns) {
    if (c.prev_live != nullptr || c.next_live != nullptr) worker.unlink(c);
  }
}

// --- a reloaded CRL (cert_revoked) --------------------------------------------------------------

std::shared_ptr<const tls::ServerContext> context_with(const std::string& crl) {
  tls::BuildResult r =
      tls::build_server_context(tls::test::gateway_options(tls::Mode::required, crl));
  EXPECT_TRUE(r.context) << r.error->to_string();
  return r.context;
}

base::Identity identity_of(const std::string& name) {
  return tls::extract_identity(*tls::test::load_leaf(name)).identity;
}

TEST(RecheckCertificate, ACertificateTheReloadedCrlRevokesIsClosedNamingSerialAndIssuer) {
  const auto l = listener();
  filters::Facts f(1, l);
  set(f, "192.0.2.2:40000", "203.0.113.10:80");
  f.identity = identity_of("payments");
  const auto before = context_with("ca.crl");
  const auto after = context_with("ca-revokes-payments.crl");
  EXPECT_FALSE(recheck_certificate(f, before->revocations()));
  const auto why = recheck_certificate(f, after->revocations());
  ASSERT_TRUE(why);
  EXPECT_EQ(why->reason, base::Reason::cert_revoked);
  EXPECT_EQ(why->rule, "");
  EXPECT_EQ(
      why->detail.rfind("client certificate serial " + f.identity->serial + " of issuer \"" +
                            f.identity->issuer + "\" revoked by the reloaded CRL (revoked at ",
                        0),
      0u)
      << why->detail;

  f.identity = identity_of("analytics");
  EXPECT_FALSE(recheck_certificate(f, after->revocations()));
  f.identity.reset();  // a plain-TCP client has no certificate to revoke
  EXPECT_FALSE(recheck_certificate(f, after->revocations()));
}

// --- a rule's expires (rule_expired) -----------------------------------------------------------

/// Decides `f` with `policy` at `now`, as the policy step does, keeping the snapshot.
void decide(filters::Facts& f, std::shared_ptr<const policy::Policy> policy,
            std::chrono::system_clock::time_point now) {
  f.decision = policy->evaluate(filters::policy_facts(f, now));
  f.policy = std::move(policy);
}

std::string expiring_policy(const std::string& short_at, const std::string& long_at) {
  return R"(kind: Settings
default: deny
---
kind: Rule
id: short
action: allow
expires: )" +
         short_at + R"(
from: [{any: true}]
to: [{cidrs: [203.0.113.0/24], ports: [80]}]
---
kind: Rule
id: longer
action: allow
expires: )" +
         long_at + R"(
from: [{any: true}]
to: [{cidrs: [203.0.113.0/24], ports: [81]}]
---
kind: Rule
id: forever
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.0/24], ports: [82]}]
)";
}

TEST(Expire, OnlyTheExpiredRulesConnectionsAndOnlyWhenNothingElseAllowsThem) {
  Policies p;
  const auto policy = p.load(expiring_policy("2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z"));
  const auto l = listener();
  const auto at = *clock::parse_rfc3339("2030-01-01T00:00:00Z");
  filters::Facts f(1, l);
  set(f, "192.0.2.2:40000", "203.0.113.10:80");
  decide(f, policy, kNow);
  ASSERT_EQ(f.decision->rule_id, "short");
  EXPECT_FALSE(expire(f, {"longer"}, *policy, at));  // not its rule
  const auto why = expire(f, {"short"}, *policy, at);
  ASSERT_TRUE(why);
  EXPECT_EQ(why->reason, base::Reason::rule_expired);
  EXPECT_EQ(why->rule, "short");
  EXPECT_EQ(why->detail,
            "rule 'short' expired at 2030-01-01T00:00:00Z; now denied by default (policy " +
                policy->version() + ")");

  // Another rule that allows the same connection keeps it.
  const auto overlapping = p.load(expiring_policy("2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z") +
                                  R"(---
kind: Rule
id: also-80
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.10/32], ports: [80]}]
)");
  EXPECT_FALSE(expire(f, {"short"}, *overlapping, at));

  EXPECT_EQ(rules_expiring(*policy, at - std::chrono::seconds(1), at),
            std::vector<std::string>{"short"});
  EXPECT_TRUE(rules_expiring(*policy, at, at + std::chrono::hours(1)).empty());
  EXPECT_EQ(next_expiry(*policy, kNow), at);
  EXPECT_EQ(next_expiry(*policy, at), *clock::parse_rfc3339("2031-01-01T00:00:00Z"));
  EXPECT_FALSE(next_expiry(*policy, *clock::parse_rfc3339("2031-01-01T00:00:00Z")));
}

/// Asks the worker's thread (after whatever it has queued) which connections are revoked.
std::vector<std::optional<Revocation>> revoked_now(Worker& worker,
                                                   const std::vector<Connection*>& conns) {
  std::promise<std::vector<std::optional<Revocation>>> answer;
  asio::post(worker.io(), [&] {
    std::vector<std::optional<Revocation>> out;
    for (const Connection* c : conns) out.push_back(c->revoked());
    answer.set_value(std::move(out));
  });
  auto f = answer.get_future();
  EXPECT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  return f.get();
}

void sleep_until(std::chrono::system_clock::time_point t) {
  std::this_thread::sleep_until(t);
}

// One timer per worker, for the running policy's next expires: at each instant the connections the
// expiring rule allowed are closed (rule_expired), the others keep running; the timer is armed
// again after each firing and after a reload (watch_expiry).
TEST(WorkerExpiry, EachRulesConnectionsCloseAtItsInstantAndTheOthersRun) {
  using namespace std::chrono_literals;
  Policies p;
  const auto start = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  const auto t1 = start + 2s;
  const auto t2 = start + 4s;
  const auto policy = p.load(expiring_policy(clock::format_rfc3339(t1), clock::format_rfc3339(t2)));
  config::GatewayConfig config;
  config.workers = 1;
  NullAuditLog audit;
  Runtime runtime(config, audit, p.store());
  Worker worker(0, runtime);
  const auto l = listener();

  std::list<Connection> conns;
  std::vector<Connection*> by_port;  // ports 80 (short), 81 (longer), 82 (forever), 83 (later)
  for (int port = 80; port <= 83; ++port) {
    auto& c = conns.emplace_back(asio::ip::tcp::socket(worker.io()), port, l);
    set(c.facts, "192.0.2.2:40000", ("203.0.113.10:" + std::to_string(port)).c_str());
    if (port != 83) decide(c.facts, policy, std::chrono::system_clock::now());
    c.relaying = true;
    worker.link(c);
    by_port.push_back(&c);
  }
  worker.start();

  sleep_until(t1 - 300ms);
  auto r = revoked_now(worker, by_port);
  EXPECT_FALSE(r[0] || r[1] || r[2]) << "nothing closes before the first instant";

  // A reload before t2 adds a rule expiring after it, allowing port 83: re-armed, it fires too.
  const auto t3 = start + 6s;
  const auto reloaded =
      p.load(expiring_policy(clock::format_rfc3339(t1), clock::format_rfc3339(t2)) + R"(---
kind: Rule
id: later
action: allow
expires: )" + clock::format_rfc3339(t3) +
             R"(
from: [{any: true}]
to: [{cidrs: [203.0.113.0/24], ports: [83]}]
)");
  asio::post(worker.io(),
             [&] { decide(by_port[3]->facts, reloaded, std::chrono::system_clock::now()); });
  worker.watch_expiry();

  sleep_until(t1 + 800ms);
  r = revoked_now(worker, by_port);
  ASSERT_TRUE(r[0]) << "the connection of 'short' is closed at its instant";
  EXPECT_EQ(r[0]->reason, base::Reason::rule_expired);
  EXPECT_EQ(r[0]->rule, "short");
  EXPECT_FALSE(r[1] || r[2] || r[3]);

  sleep_until(t2 + 800ms);
  r = revoked_now(worker, by_port);
  ASSERT_TRUE(r[1]) << "the timer was armed again after its first firing";
  EXPECT_EQ(r[1]->rule, "longer");
  EXPECT_FALSE(r[2] || r[3]);

  sleep_until(t3 + 800ms);
  r = revoked_now(worker, by_port);
  ASSERT_TRUE(r[3]) << "the reload armed the timer for its own rule";
  EXPECT_EQ(r[3]->rule, "later");
  EXPECT_EQ(r[3]->reason, base::Reason::rule_expired);
  EXPECT_FALSE(r[2]) << "the connection of a rule that never expires keeps running";

  worker.join();
  for (auto& c : conns) worker.unlink(c);
}

}  // namespace
}  // namespace egress::core
