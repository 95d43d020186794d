#include "resolve/held_answers.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "resolve/name_verifier.hpp"
#include "run_awaitable.hpp"

// The held answers shared by several workers' verifiers (issue 19: "every address seen for a
// name in that window counts", whichever worker decides): what one worker learned is a match
// for another, the refresh rate limit is the gateway's, the bound holds, and two threads may
// verify and merge at once (run under TSan by `make tsan`).

namespace egress::resolve {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

HeldAnswers::Clock::time_point fake_now = HeldAnswers::Clock::time_point{} + 1000h;
HeldAnswers::Clock::time_point now() {
  return fake_now;
}

base::IpAddress ip(std::string_view text) {
  return *base::IpAddress::parse(text);
}

Answer ok(std::initializer_list<const char*> addresses, int ttl = 1) {
  Answer a{Answer::Status::ok, {}, {}};
  for (const char* address : addresses)
    a.records.push_back({ip(address), std::chrono::seconds(ttl)});
  return a;
}

// One worker's resolver: answers what is scripted for the name now (posted, as the resolver
// does) and counts the questions.
class Worker : public NameLookup {
 public:
  Worker(HeldAnswers& answers, std::map<std::string, Answer>& script)
      : verifier(*this, answers), script_(script) {}

  void lookup(const std::string& name, Callback done) override {
    asked.push_back(name);
    auto it = script_.find(name);
    Answer a = it == script_.end() ? Answer{Answer::Status::nxdomain, "NXDOMAIN", {}} : it->second;
    asio::post(io, [done = std::move(done), a]() mutable { done(std::move(a)); });
  }

  Verification verify(std::string name, std::string_view destination) {
    return run_awaitable(io, verifier.verify(std::move(name), ip(destination)));
  }

  asio::io_context io;
  std::vector<std::string> asked;
  NameVerifier verifier;

 private:
  std::map<std::string, Answer>& script_;
};

class HeldAnswersTest : public ::testing::Test {
 protected:
  std::map<std::string, Answer> script_;
  HeldAnswers answers_{VerifierOptions{.min_ttl = 30s}, &now};
  Worker a_{answers_, script_};
  Worker b_{answers_, script_};
};

TEST_F(HeldAnswersTest, AnAnswerOneWorkerLearnedIsAMatchOnAnother) {
  // The e2e's roaming name: one worker saw .10, the name moved to .20 and another worker saw
  // that; within min_ttl the old address still counts on either worker, with both answers.
  script_["moving.example"] = ok({"203.0.113.10"});
  EXPECT_EQ(a_.verify("moving.example", "203.0.113.10").verdict, Verdict::match);
  fake_now += 1200ms;
  script_["moving.example"] = ok({"203.0.113.20"});
  EXPECT_EQ(b_.verify("moving.example", "203.0.113.20").verdict, Verdict::match);

  for (Worker* w : {&a_, &b_}) {
    auto v = w->verify("moving.example", "203.0.113.10");
    EXPECT_EQ(v.verdict, Verdict::match);
    EXPECT_EQ(v.answers, (std::vector{ip("203.0.113.10"), ip("203.0.113.20")}));
    EXPECT_EQ(w->verifier.held("moving.example", ip("203.0.113.20")), Verdict::match);
  }
  EXPECT_EQ(a_.asked.size(), 1u);
  EXPECT_EQ(b_.asked.size(), 1u) << "the old address was held: no worker asked again";
  EXPECT_EQ(answers_.lookups(), 2u);

  fake_now += 31s;  // past min_ttl: the window ends for every worker at once
  EXPECT_EQ(b_.verifier.held("moving.example", ip("203.0.113.10")), std::nullopt);
}

TEST_F(HeldAnswersTest, TheRefreshRateLimitIsSharedByTheWorkers) {
  script_["api.example"] = ok({"192.0.2.1"});
  EXPECT_EQ(a_.verify("api.example", "192.0.2.1").verdict, Verdict::match);
  fake_now += 500ms;
  // Another worker, a destination not held, within refresh_interval of a's lookup: no second
  // question, the held answers decide.
  auto v = b_.verify("api.example", "192.0.2.99");
  EXPECT_EQ(v.verdict, Verdict::mismatch);
  EXPECT_EQ(v.answers, std::vector{ip("192.0.2.1")});
  EXPECT_TRUE(b_.asked.empty());
  fake_now += 600ms;  // 1.1 s after the last lookup: one worker may ask again, then not the other
  script_["api.example"] = ok({"192.0.2.99"});
  EXPECT_EQ(b_.verify("api.example", "192.0.2.99").verdict, Verdict::match);
  EXPECT_EQ(a_.verify("api.example", "192.0.2.98").verdict, Verdict::mismatch);
  EXPECT_EQ(a_.asked.size(), 1u);
  EXPECT_EQ(b_.asked.size(), 1u);
  EXPECT_EQ(answers_.lookups(), 2u);
}

TEST_F(HeldAnswersTest, ANegativeAnswerIsRememberedForEveryWorker) {
  EXPECT_EQ(a_.verify("nx.example", "192.0.2.1").verdict, Verdict::unresolved);
  fake_now += 2s;  // past refresh_interval, within negative_ttl
  auto v = b_.verify("nx.example", "192.0.2.1");
  EXPECT_EQ(v.verdict, Verdict::unresolved);
  EXPECT_EQ(v.detail, "NXDOMAIN");
  EXPECT_TRUE(b_.asked.empty());
  EXPECT_EQ(b_.verifier.held("nx.example", ip("192.0.2.1")), Verdict::unresolved);
}

TEST(HeldAnswersBoundTest, NamesAndAddressesStayWithinTheirBounds) {
  HeldAnswers answers({.max_names = 2, .max_addresses_per_name = 2}, &now);
  const auto t = now();
  answers.merge("a.example", ok({"192.0.2.1"}), t);
  answers.merge("b.example", ok({"192.0.2.2"}), t);
  answers.look("a.example", ip("192.0.2.1"), t, false);  // a is now the most recently used
  answers.merge("c.example", ok({"192.0.2.3"}), t);
  EXPECT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers.held("b.example", ip("192.0.2.2"), t), std::nullopt) << "b was evicted";
  EXPECT_EQ(answers.held("a.example", ip("192.0.2.1"), t), Verdict::match);

  answers.merge("a.example", ok({"192.0.2.4"}, 120), t);
  answers.merge("a.example", ok({"192.0.2.5"}, 90), t + 1s);
  // Three addresses seen, two held: the one expiring first (.1, held for 60 s) goes.
  EXPECT_EQ(answers.held("a.example", ip("192.0.2.1"), t + 1s), Verdict::mismatch);
  auto snapshot = answers.merge("a.example", ok({}), t + 1s);
  EXPECT_EQ(snapshot.addresses, (std::vector{ip("192.0.2.4"), ip("192.0.2.5")}));
}

TEST(HeldAnswersThreadsTest, TwoWorkersVerifyAndMergeAtOnce) {
  // Two threads, each a worker with its own event loop, resolver and verifier, on one store:
  // TSan (make tsan) sees every access to the store under its lock.
  HeldAnswers answers({.min_ttl = 3600s, .refresh_interval = 0ms, .max_names = 50});
  std::map<std::string, Answer> script;
  for (int i = 0; i < 64; ++i) {
    script["n" + std::to_string(i) + ".example"] = ok({"192.0.2.1", "192.0.2.2"}, 3600);
  }
  std::atomic<int> mismatches{0};
  auto run = [&](const char* destination) {
    Worker w(answers, script);
    for (int round = 0; round < 20; ++round) {
      for (int i = 0; i < 64; ++i) {
        std::string name = "n" + std::to_string(i) + ".example";
        if (w.verify(name, destination).verdict != Verdict::match) ++mismatches;
        (void)w.verifier.held(name, ip(destination));
      }
    }
  };
  std::thread t1(run, "192.0.2.1");
  std::thread t2(run, "192.0.2.2");
  t1.join();
  t2.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(answers.size(), 50u);
}

}  // namespace
}  // namespace egress::resolve
