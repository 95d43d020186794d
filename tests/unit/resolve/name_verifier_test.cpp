#include "resolve/name_verifier.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <map>
#include <optional>

#include "run_awaitable.hpp"

// The cache's policy against a scripted lookup and a clock the test moves: what is held for how
// long, when a lookup is asked, what waiters share. The real resolver is in
// name_verifier_dnsmasq_test.cpp.

namespace egress::resolve {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

NameVerifier::Clock::time_point fake_now = NameVerifier::Clock::time_point{} + 1000h;
NameVerifier::Clock::time_point now() {
  return fake_now;
}

base::IpAddress ip(std::string_view text) {
  return *base::IpAddress::parse(text);
}

Answer ok(std::initializer_list<std::pair<const char*, int>> records) {
  Answer a{Answer::Status::ok, {}, {}};
  for (auto [address, ttl] : records) a.records.push_back({ip(address), std::chrono::seconds(ttl)});
  return a;
}

Answer failed(Answer::Status status, std::string detail) {
  return {status, std::move(detail), {}};
}

// Answers each lookup with the answer scripted for the name now (posted, as the resolver
// does), or holds it until complete() when `hold` is set.
class ScriptedLookup : public NameLookup {
 public:
  explicit ScriptedLookup(asio::io_context& io) : io_(io) {}

  void lookup(const std::string& name, Callback done) override {
    asked.push_back(name);
    if (hold) {
      held.emplace_back(name, std::move(done));
      return;
    }
    auto it = script.find(name);
    Answer a = it == script.end() ? failed(Answer::Status::nxdomain, "NXDOMAIN") : it->second;
    asio::post(io_, [done = std::move(done), a]() mutable { done(std::move(a)); });
  }

  void complete_all() {
    for (auto& [name, done] : held) {
      Answer a = script.at(name);
      asio::post(io_, [done = std::move(done), a]() mutable { done(std::move(a)); });
    }
    held.clear();
  }

  std::map<std::string, Answer> script;
  std::vector<std::string> asked;
  bool hold = false;
  std::vector<std::pair<std::string, Callback>> held;

 private:
  asio::io_context& io_;
};

class NameVerifierTest : public ::testing::Test {
 protected:
  Verification verify(std::string name, std::string_view destination) {
    return run_awaitable(io_, verifier_->verify(std::move(name), ip(destination)));
  }
  void make(VerifierOptions options) { verifier_.emplace(lookup_, options, &now); }

  asio::io_context io_;
  ScriptedLookup lookup_{io_};
  std::optional<NameVerifier> verifier_{std::in_place, lookup_, VerifierOptions{}, &now};
};

TEST_F(NameVerifierTest, MatchesAnAnswerAndServesTheNextFromTheCache) {
  lookup_.script["api.example.com"] = ok({{"192.0.2.1", 30}, {"192.0.2.2", 30}});
  auto v = verify("api.example.com", "192.0.2.2");
  EXPECT_EQ(v.verdict, Verdict::match);
  EXPECT_EQ(v.detail, "");
  EXPECT_EQ(v.answers, (std::vector{ip("192.0.2.1"), ip("192.0.2.2")}));
  EXPECT_EQ(lookup_.asked.size(), 1u);

  fake_now += 10s;
  EXPECT_EQ(verify("api.example.com", "192.0.2.1").verdict, Verdict::match);
  EXPECT_EQ(lookup_.asked.size(), 1u) << "a cache hit asks nothing";
}

TEST_F(NameVerifierTest, MismatchComesAfterOneFreshLookupRateLimitedPerName) {
  lookup_.script["api.example.com"] = ok({{"192.0.2.1", 300}});
  auto v = verify("api.example.com", "198.51.100.7");
  EXPECT_EQ(v.verdict, Verdict::mismatch);
  EXPECT_EQ(v.answers, std::vector{ip("192.0.2.1")});
  EXPECT_EQ(lookup_.asked.size(), 1u);

  fake_now += 500ms;  // within refresh_interval (1s) of the last lookup: the held answers decide
  EXPECT_EQ(verify("api.example.com", "198.51.100.7").verdict, Verdict::mismatch);
  EXPECT_EQ(lookup_.asked.size(), 1u);

  fake_now += 600ms;  // 1.1s: one fresh lookup before the verdict
  EXPECT_EQ(verify("api.example.com", "198.51.100.7").verdict, Verdict::mismatch);
  EXPECT_EQ(lookup_.asked.size(), 2u);
}

TEST_F(NameVerifierTest, AnAnswerIsHeldForMinTtlWhenItsTtlIsShorter) {
  lookup_.script["cdn.example.com"] = ok({{"192.0.2.1", 5}});
  EXPECT_EQ(verify("cdn.example.com", "192.0.2.1").verdict, Verdict::match);
  lookup_.script["cdn.example.com"] = ok({{"192.0.2.2", 5}});

  fake_now += 59s;  // TTL 5s is long gone; min_ttl 60s holds it
  EXPECT_EQ(verify("cdn.example.com", "192.0.2.1").verdict, Verdict::match);
  EXPECT_EQ(lookup_.asked.size(), 1u);

  fake_now += 2s;  // 61s: expired, asked again, and the server no longer gives it
  auto v = verify("cdn.example.com", "192.0.2.1");
  EXPECT_EQ(v.verdict, Verdict::mismatch);
  EXPECT_EQ(v.answers, std::vector{ip("192.0.2.2")});
  EXPECT_EQ(lookup_.asked.size(), 2u);
}

TEST_F(NameVerifierTest, AnAnswerIsHeldForItsTtlWhenLongerThanMinTtl) {
  lookup_.script["slow.example.com"] = ok({{"192.0.2.1", 300}});
  EXPECT_EQ(verify("slow.example.com", "192.0.2.1").verdict, Verdict::match);
  fake_now += 299s;
  EXPECT_EQ(verify("slow.example.com", "192.0.2.1").verdict, Verdict::match);
  EXPECT_EQ(lookup_.asked.size(), 1u);
}

TEST_F(NameVerifierTest, EveryAddressSeenWithinTheWindowCounts) {
  lookup_.script["rr.example.com"] = ok({{"192.0.2.1", 10}});
  EXPECT_EQ(verify("rr.example.com", "192.0.2.1").verdict, Verdict::match);

  // Round-robin: the next answer has another address, which the client got first.
  lookup_.script["rr.example.com"] = ok({{"192.0.2.2", 10}});
  fake_now += 2s;
  auto v = verify("rr.example.com", "192.0.2.2");
  EXPECT_EQ(v.verdict, Verdict::match);
  EXPECT_EQ(v.answers, (std::vector{ip("192.0.2.1"), ip("192.0.2.2")}));
  EXPECT_EQ(lookup_.asked.size(), 2u);

  // Each address keeps its own expiry: .1 (seen at 0s) goes at 60s, .2 (seen at 2s) at 62s.
  fake_now += 58s + 500ms;
  v = verify("rr.example.com", "192.0.2.2");
  EXPECT_EQ(v.verdict, Verdict::match);
  EXPECT_EQ(v.answers, std::vector{ip("192.0.2.2")});
  EXPECT_EQ(lookup_.asked.size(), 2u);
}

TEST_F(NameVerifierTest, NxdomainIsUnresolvedAndHeldForTheNegativeTtl) {
  auto v = verify("gone.example.com", "192.0.2.1");
  EXPECT_EQ(v.verdict, Verdict::unresolved);
  EXPECT_EQ(v.detail, "NXDOMAIN");
  EXPECT_TRUE(v.answers.empty());

  fake_now += 4s;  // a flood of connections to it asks the server nothing for 5s
  EXPECT_EQ(verify("gone.example.com", "192.0.2.1").detail, "NXDOMAIN");
  EXPECT_EQ(lookup_.asked.size(), 1u);

  fake_now += 1500ms;
  lookup_.script["gone.example.com"] = ok({{"192.0.2.1", 60}});
  EXPECT_EQ(verify("gone.example.com", "192.0.2.1").verdict, Verdict::match);
  EXPECT_EQ(lookup_.asked.size(), 2u);
}

TEST_F(NameVerifierTest, APathFailureIsRememberedOnlyForTheFailureTtl) {
  lookup_.script["flaky.example.com"] = failed(Answer::Status::timeout, "timeout after 2000 ms");
  auto v = verify("flaky.example.com", "192.0.2.1");
  EXPECT_EQ(v.verdict, Verdict::unresolved);
  EXPECT_EQ(v.detail, "timeout after 2000 ms");

  fake_now += 500ms;
  EXPECT_EQ(verify("flaky.example.com", "192.0.2.1").verdict, Verdict::unresolved);
  EXPECT_EQ(lookup_.asked.size(), 1u);

  fake_now += 600ms;
  lookup_.script["flaky.example.com"] = ok({{"192.0.2.1", 60}});
  EXPECT_EQ(verify("flaky.example.com", "192.0.2.1").verdict, Verdict::match);
  EXPECT_EQ(lookup_.asked.size(), 2u);
}

TEST_F(NameVerifierTest, AFailedRefreshLeavesTheHeldAnswersToDecide) {
  lookup_.script["api.example.com"] = ok({{"192.0.2.1", 60}});
  EXPECT_EQ(verify("api.example.com", "192.0.2.1").verdict, Verdict::match);
  lookup_.script["api.example.com"] = failed(Answer::Status::servfail, "SERVFAIL");
  fake_now += 2s;
  auto v = verify("api.example.com", "198.51.100.7");
  EXPECT_EQ(v.verdict, Verdict::mismatch);
  EXPECT_EQ(v.answers, std::vector{ip("192.0.2.1")});
  EXPECT_EQ(verify("api.example.com", "192.0.2.1").verdict, Verdict::match);
  EXPECT_EQ(lookup_.asked.size(), 2u);
}

TEST_F(NameVerifierTest, ConcurrentVerifiesOfOneNameShareOneLookup) {
  lookup_.hold = true;
  lookup_.script["api.example.com"] = ok({{"192.0.2.1", 60}});
  std::vector<std::optional<Verification>> results(5);
  for (std::size_t i = 0; i < results.size(); ++i) {
    std::string destination = i == 4 ? "198.51.100.7" : "192.0.2.1";
    asio::co_spawn(io_, verifier_->verify("api.example.com", ip(destination)),
                   [&results, i](std::exception_ptr, Verification v) { results[i] = v; });
  }
  io_.poll();
  EXPECT_EQ(lookup_.asked.size(), 1u);
  for (auto& r : results) EXPECT_FALSE(r.has_value()) << "nobody decides before the answer";

  lookup_.complete_all();
  io_.restart();
  io_.run();
  for (std::size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(results[i].has_value());
    EXPECT_EQ(results[i]->verdict, Verdict::match);
  }
  ASSERT_TRUE(results[4].has_value());
  EXPECT_EQ(results[4]->verdict, Verdict::mismatch);
  EXPECT_EQ(lookup_.asked.size(), 1u);
}

TEST_F(NameVerifierTest, ACancelledWaiterLeavesTheOthersWaiting) {
  lookup_.hold = true;
  lookup_.script["api.example.com"] = ok({{"192.0.2.1", 60}});
  asio::cancellation_signal cancel;
  std::optional<Verification> cancelled, waiting;
  asio::co_spawn(io_, verifier_->verify("api.example.com", ip("192.0.2.1")),
                 asio::bind_cancellation_slot(
                     cancel.slot(), [&](std::exception_ptr, Verification v) { cancelled = v; }));
  asio::co_spawn(io_, verifier_->verify("api.example.com", ip("192.0.2.1")),
                 [&](std::exception_ptr, Verification v) { waiting = v; });
  io_.poll();
  cancel.emit(asio::cancellation_type::terminal);
  io_.poll();
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->verdict, Verdict::unresolved);
  EXPECT_EQ(cancelled->detail, "cancelled");
  EXPECT_FALSE(waiting.has_value());

  lookup_.complete_all();
  io_.restart();
  io_.run();
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->verdict, Verdict::match);
}

TEST_F(NameVerifierTest, TheCacheHoldsAtMostMaxNamesLeastRecentlyUsedGoesFirst) {
  make({.max_names = 3});
  for (const char* name : {"a.example", "b.example", "c.example", "d.example", "e.example"}) {
    lookup_.script[name] = ok({{"192.0.2.1", 60}});
  }
  for (const char* name : {"a.example", "b.example", "c.example"}) verify(name, "192.0.2.1");
  verify("a.example", "192.0.2.1");  // a is now the most recently used; b the least
  EXPECT_EQ(lookup_.asked.size(), 3u);
  verify("d.example", "192.0.2.1");
  verify("e.example", "192.0.2.1");
  EXPECT_EQ(verifier_->size(), 3u);
  EXPECT_EQ(lookup_.asked.size(), 5u);

  verify("a.example", "192.0.2.1");  // kept
  EXPECT_EQ(lookup_.asked.size(), 5u);
  verify("b.example", "192.0.2.1");  // evicted: asked again
  EXPECT_EQ(lookup_.asked.size(), 6u);
  EXPECT_EQ(verifier_->size(), 3u);
}

TEST_F(NameVerifierTest, ANameEvictedWhileInFlightStillAnswersItsWaiters) {
  make({.max_names = 1});
  lookup_.hold = true;
  lookup_.script["a.example"] = ok({{"192.0.2.1", 60}});
  lookup_.script["b.example"] = ok({{"192.0.2.2", 60}});
  std::optional<Verification> a, b;
  asio::co_spawn(io_, verifier_->verify("a.example", ip("192.0.2.1")),
                 [&](std::exception_ptr, Verification v) { a = v; });
  asio::co_spawn(io_, verifier_->verify("b.example", ip("192.0.2.2")),
                 [&](std::exception_ptr, Verification v) { b = v; });
  io_.poll();
  EXPECT_EQ(verifier_->size(), 1u);
  lookup_.complete_all();
  io_.restart();
  io_.run();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->verdict, Verdict::match);
  EXPECT_EQ(b->verdict, Verdict::match);
}

TEST_F(NameVerifierTest, AnAnswerArrivingAfterTheVerifierIsGoneTouchesNothing) {
  lookup_.hold = true;
  lookup_.script["api.example.com"] = ok({{"192.0.2.1", 60}});
  std::optional<Verification> result;
  asio::co_spawn(io_, verifier_->verify("api.example.com", ip("192.0.2.1")),
                 [&](std::exception_ptr, Verification v) { result = v; });
  io_.poll();
  verifier_.reset();  // a worker shutting down (ASan checks nothing reads the freed verifier)
  lookup_.complete_all();
  io_.restart();
  io_.run();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->verdict, Verdict::unresolved);
  EXPECT_EQ(result->detail, "verifier stopped");
}

TEST_F(NameVerifierTest, NamesAreKeyedWithoutCaseOrTrailingDot) {
  lookup_.script["api.example.com"] = ok({{"192.0.2.1", 60}});
  EXPECT_EQ(verify("API.Example.COM.", "192.0.2.1").verdict, Verdict::match);
  EXPECT_EQ(verify("api.example.com", "192.0.2.1").verdict, Verdict::match);
  EXPECT_EQ(lookup_.asked, std::vector<std::string>{"api.example.com"});
}

TEST_F(NameVerifierTest, ANameThatIsNotAHostNameIsNeverAsked) {
  for (std::string name :
       {std::string(""), std::string("."), std::string("a..example"), std::string(".a.example"),
        std::string("evil\\.example"), std::string("nul\0.example", 12),
        std::string("sp ace.example"), std::string(64, 'a') + ".example", std::string(254, 'a')}) {
    auto v = verify(name, "192.0.2.1");
    EXPECT_EQ(v.verdict, Verdict::unresolved) << name;
    EXPECT_EQ(v.detail, "invalid name") << name;
  }
  EXPECT_TRUE(lookup_.asked.empty());
}

TEST_F(NameVerifierTest, HeldAnswersWhatIsHeldWithoutALookup) {
  // Nothing held yet: no verdict, and nothing asked.
  EXPECT_EQ(verifier_->held("held.example.com", ip("192.0.2.1")), std::nullopt);
  EXPECT_TRUE(lookup_.asked.empty());

  lookup_.script["held.example.com"] = ok({{"192.0.2.1", 30}});
  EXPECT_EQ(verify("held.example.com", "192.0.2.1").verdict, Verdict::match);
  EXPECT_EQ(verifier_->held("HELD.example.com.", ip("192.0.2.1")), Verdict::match);
  EXPECT_EQ(verifier_->held("held.example.com", ip("198.51.100.7")), Verdict::mismatch);
  EXPECT_EQ(lookup_.asked.size(), 1u) << "held() never asks, even for an address not held";

  fake_now += 61s;  // past min_ttl: the address no longer counts, and no failure is remembered
  EXPECT_EQ(verifier_->held("held.example.com", ip("192.0.2.1")), std::nullopt);

  EXPECT_EQ(verify("nx.example.com", "192.0.2.1").verdict, Verdict::unresolved);
  EXPECT_EQ(verifier_->held("nx.example.com", ip("192.0.2.1")), Verdict::unresolved);
  fake_now += 6s;  // past negative_ttl
  EXPECT_EQ(verifier_->held("nx.example.com", ip("192.0.2.1")), std::nullopt);

  EXPECT_EQ(verifier_->held("not a name", ip("192.0.2.1")), std::nullopt);
  EXPECT_EQ(lookup_.asked.size(), 2u);
}

// Issue 20: a CONNECT request names a host and no address; resolve gives every address held for
// it, looking up only when none is.
TEST_F(NameVerifierTest, ResolveLooksUpOnceAndThenServesTheHeldAddresses) {
  lookup_.script["api.example.com"] =
      ok({{"2001:db8::1", 60}, {"192.0.2.1", 60}, {"192.0.2.2", 60}});
  auto r = run_awaitable(io_, verifier_->resolve("API.example.com."));
  EXPECT_EQ(r.verdict, Verdict::match);
  EXPECT_EQ(r.detail, "");
  EXPECT_EQ(r.answers, (std::vector{ip("2001:db8::1"), ip("192.0.2.1"), ip("192.0.2.2")}))
      << "in the resolver's order";
  EXPECT_EQ(lookup_.asked, std::vector<std::string>{"api.example.com"});

  fake_now += 30s;
  EXPECT_EQ(run_awaitable(io_, verifier_->resolve("api.example.com")).answers.size(), 3u);
  EXPECT_EQ(verify("api.example.com", "192.0.2.2").verdict, Verdict::match);
  EXPECT_EQ(lookup_.asked.size(), 1u) << "held addresses answer resolve and verify alike";

  fake_now += 31s;  // 61s: every address expired, so the name is asked again
  lookup_.script["api.example.com"] = ok({{"192.0.2.9", 60}});
  r = run_awaitable(io_, verifier_->resolve("api.example.com"));
  EXPECT_EQ(r.answers, std::vector{ip("192.0.2.9")});
  EXPECT_EQ(lookup_.asked.size(), 2u);
}

TEST_F(NameVerifierTest, ResolveUsesWhatAVerifyHeldWithoutALookup) {
  lookup_.script["api.example.com"] = ok({{"192.0.2.1", 60}});
  EXPECT_EQ(verify("api.example.com", "192.0.2.1").verdict, Verdict::match);
  const auto r = run_awaitable(io_, verifier_->resolve("api.example.com"));
  EXPECT_EQ(r.answers, std::vector{ip("192.0.2.1")});
  EXPECT_EQ(lookup_.asked.size(), 1u);
}

TEST_F(NameVerifierTest, ResolveOfAMissingNameIsUnresolvedAndRememberedForTheNegativeTtl) {
  auto r = run_awaitable(io_, verifier_->resolve("gone.example.com"));
  EXPECT_EQ(r.verdict, Verdict::unresolved);
  EXPECT_EQ(r.detail, "NXDOMAIN");
  EXPECT_TRUE(r.answers.empty());

  fake_now += 4s;
  r = run_awaitable(io_, verifier_->resolve("gone.example.com"));
  EXPECT_EQ(r.detail, "NXDOMAIN");
  EXPECT_EQ(lookup_.asked.size(), 1u) << "a flood of CONNECTs to it asks the server nothing";

  fake_now += 1500ms;
  lookup_.script["gone.example.com"] = failed(Answer::Status::servfail, "SERVFAIL");
  r = run_awaitable(io_, verifier_->resolve("gone.example.com"));
  EXPECT_EQ(r.verdict, Verdict::unresolved);
  EXPECT_EQ(r.detail, "SERVFAIL");
  EXPECT_EQ(lookup_.asked.size(), 2u);
}

TEST_F(NameVerifierTest, ConcurrentResolvesAndVerifiesOfOneNameShareOneLookup) {
  lookup_.hold = true;
  lookup_.script["api.example.com"] = ok({{"192.0.2.1", 60}, {"192.0.2.2", 60}});
  std::optional<Verification> resolved1, resolved2, verified;
  asio::co_spawn(io_, verifier_->verify("api.example.com", ip("192.0.2.2")),
                 [&](std::exception_ptr, Verification v) { verified = v; });
  asio::co_spawn(io_, verifier_->resolve("api.example.com"),
                 [&](std::exception_ptr, Verification v) { resolved1 = v; });
  asio::co_spawn(io_, verifier_->resolve("api.example.com"),
                 [&](std::exception_ptr, Verification v) { resolved2 = v; });
  io_.poll();
  EXPECT_EQ(lookup_.asked.size(), 1u);
  EXPECT_FALSE(resolved1 || resolved2 || verified) << "nobody answers before the lookup";

  lookup_.complete_all();
  io_.restart();
  io_.run();
  ASSERT_TRUE(resolved1 && resolved2 && verified);
  EXPECT_EQ(resolved1->answers, (std::vector{ip("192.0.2.1"), ip("192.0.2.2")}));
  EXPECT_EQ(resolved2->answers, resolved1->answers);
  EXPECT_EQ(verified->verdict, Verdict::match);
  EXPECT_EQ(lookup_.asked.size(), 1u);
}

TEST_F(NameVerifierTest, ResolveSharesTheHeldAnswersWithEveryWorker) {
  HeldAnswers shared(VerifierOptions{}, &now);
  NameVerifier worker1(lookup_, shared);
  NameVerifier worker2(lookup_, shared);
  lookup_.script["api.example.com"] = ok({{"192.0.2.1", 60}});
  EXPECT_EQ(run_awaitable(io_, worker1.resolve("api.example.com")).verdict, Verdict::match);
  const auto r = run_awaitable(io_, worker2.resolve("api.example.com"));
  EXPECT_EQ(r.answers, std::vector{ip("192.0.2.1")});
  EXPECT_EQ(lookup_.asked.size(), 1u);
  EXPECT_EQ(worker2.lookups(), 0u);
}

TEST_F(NameVerifierTest, ResolveNeverAsksForSomethingThatIsNotAHostName) {
  const auto r = run_awaitable(io_, verifier_->resolve("a b.example.com"));
  EXPECT_EQ(r.verdict, Verdict::unresolved);
  EXPECT_EQ(r.detail, "invalid name");
  EXPECT_TRUE(lookup_.asked.empty());
}

TEST(VerdictTest, NamesAreTheAuditValues) {
  EXPECT_EQ(to_string(Verdict::match), "match");
  EXPECT_EQ(to_string(Verdict::mismatch), "mismatch");
  EXPECT_EQ(to_string(Verdict::unresolved), "unresolved");
}

}  // namespace
}  // namespace egress::resolve
