#include "core/redecide.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <list>

#include "clock/rfc3339.hpp"
#include "core/connection.hpp"
#include "core/runtime.hpp"
#include "core/worker.hpp"
#include "policy/policy.hpp"
#include "policy_source/directory.hpp"

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

}  // namespace
}  // namespace egress::core
