// WriteMode::caller_when_idle: submit() writes for an idle writer thread. The chain, the order,
// the callbacks, failure, retry, reopen and fsync behave as with the writer thread alone.
#include "audit/writer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "audit/chain.hpp"
#include "fake_sink.hpp"
#include "test_util.hpp"

namespace egress::audit {
namespace {

using testing::conn_counter;
using testing::eventually;
using testing::parse_object;
using testing::sample_decision;
using testing::split_lines;

struct CallerHarness : testing::FakeSinkLog {
  explicit CallerHarness(Options o = {}) : FakeSinkLog(o, WriteMode::caller_when_idle) {}
};

// Every line names the hash of the one before it and seq counts from 1.
void expect_chain(const std::vector<std::string>& lines) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto o = parse_object(lines[i]);
    EXPECT_EQ(o.at("seq").to_number<std::uint64_t>(), i + 1) << lines[i];
    const std::string prev = i == 0 ? std::string(kGenesisHash) : sha256_hex(lines[i - 1]);
    EXPECT_EQ(o.at("prev").as_string(), prev) << "line " << i + 1;
  }
}

TEST(AuditWriterCaller, AnIdleWriterLetsTheSubmitterWriteBeforeSubmitReturns) {
  CallerHarness h;
  // The writer thread is idle once it has written what it was given and gone back to sleep; a
  // record submitted then is written, and its callback run, inside submit() on this thread.
  bool inside = false;
  std::uint64_t n = 0;
  while (!inside && n < 200) {
    std::atomic<int> state{0};  // 0 = not called, 1 = called inside submit, 2 = called later
    std::atomic<bool> returned{false};
    std::thread::id caller;
    h.log->submit(sample_decision(++n), [&](bool written) {
      EXPECT_TRUE(written);
      caller = std::this_thread::get_id();
      state = returned.load() ? 2 : 1;
    });
    returned = true;
    ASSERT_TRUE(eventually([&] { return state.load() != 0; }));
    inside = state.load() == 1 && caller == std::this_thread::get_id();
  }
  EXPECT_TRUE(inside) << "no submit found the writer idle in " << n << " tries";
  h.log->close();
  const auto lines = split_lines(h.control->contents());
  ASSERT_EQ(lines.size(), n);
  expect_chain(lines);
  EXPECT_EQ(h.log->stats().records_written, n);
}

TEST(AuditWriterCaller, ConcurrentSubmittersKeepOneChainAndEachThreadsOrder) {
  CallerHarness h;
  constexpr int kThreads = 4;
  constexpr std::uint64_t kEach = 400;
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < kEach; ++i) {
        // conn_id = thread * 1e6 + i: the order of one thread's records is checkable.
        auto cb = [&](bool written) { written ? ++ok : ++bad; };
        if (i % 2 == 0) {
          h.log->submit(sample_decision(static_cast<std::uint64_t>(t) * 1'000'000 + i), cb);
        } else {
          h.log->submit(sample_decision(static_cast<std::uint64_t>(t) * 1'000'000 + i));
          ++ok;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  h.log->close();
  EXPECT_EQ(ok.load(), kThreads * static_cast<int>(kEach));
  EXPECT_EQ(bad.load(), 0);
  const auto lines = split_lines(h.control->contents());
  ASSERT_EQ(lines.size(), kThreads * kEach);
  expect_chain(lines);
  std::vector<std::int64_t> last(kThreads, -1);
  for (const auto& l : lines) {
    const auto id = conn_counter(parse_object(l));
    const auto t = static_cast<std::size_t>(id / 1'000'000);
    const auto i = static_cast<std::int64_t>(id % 1'000'000);
    ASSERT_LT(t, last.size());
    EXPECT_EQ(i, last[t] + 1) << "thread " << t << "'s records in submission order";
    last[t] = i;
  }
  EXPECT_EQ(h.log->stats().records_written, kThreads * kEach);
  EXPECT_EQ(h.log->stats().queue_depth, 0u);
}

TEST(AuditWriterCaller, AFailedCallerWriteIsToldFalseThenRetriedByTheWriter) {
  CallerHarness h;
  h.log->submit(sample_decision(1));
  ASSERT_TRUE(eventually([&] { return h.log->stats().records_written == 1; }));
  h.control->set_fail(true);
  std::atomic<int> result{-1};
  h.log->submit(sample_decision(2), [&](bool written) { result = written ? 1 : 0; });
  ASSERT_TRUE(eventually([&] { return result.load() != -1; }));
  EXPECT_EQ(result.load(), 0) << "a write-ahead caller hears false while the sink fails";
  EXPECT_FALSE(h.log->healthy());
  EXPECT_GE(h.log->stats().write_errors, 1u);

  h.control->set_fail(false);
  ASSERT_TRUE(eventually([&] { return h.log->healthy(); }))
      << "the writer thread retries a write that failed on the submitter's thread";
  std::atomic<int> third{-1};
  h.log->submit(sample_decision(3), [&](bool written) { third = written ? 1 : 0; });
  ASSERT_TRUE(eventually([&] { return third.load() != -1; }));
  EXPECT_EQ(third.load(), 1);
  h.log->close();
  const auto lines = split_lines(h.control->contents());
  ASSERT_EQ(lines.size(), 3u) << "the failed record is written once, after recovery";
  expect_chain(lines);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(conn_counter(parse_object(lines[i])), i + 1);
  }
  EXPECT_EQ(result.load(), 0) << "the callback is called once";
}

// Issue 17 item 12: the session asked `!written && fail_closed && !healthy()`, so a connection
// whose record failed went ahead when the sink had recovered by the time it looked, its record
// still queued: the upstream connect could precede the record. may_connect() asks only about the
// connection's own record.
TEST(AuditWriterCaller, AFailedRecordDoesNotLetItsConnectionGoWhenTheSinkRecoversBeforeItLooks) {
  CallerHarness h;
  h.log->submit(sample_decision(1));
  ASSERT_TRUE(eventually([&] { return h.log->stats().records_written == 1; }));
  h.control->set_fail(true);
  std::atomic<int> answer{-1};
  h.log->submit(sample_decision(2), [&](WriteOutcome o) { answer = o.kind; });
  ASSERT_TRUE(eventually([&] { return answer.load() != -1; }));
  const WriteOutcome outcome{static_cast<WriteOutcome::Kind>(answer.load())};
  ASSERT_EQ(outcome.kind, WriteOutcome::failed);
  {
    // The sink comes back before the session looks; the record may or may not be in yet: the
    // connection cannot know which, so it must not go.
    h.control->set_fail(false);
    ASSERT_TRUE(eventually([&] { return h.log->healthy(); }));
  }
  EXPECT_FALSE(may_connect(outcome, Options::OnError::fail_closed))
      << "fail_closed: no upstream connect for a record not known written, healthy or not";
  EXPECT_TRUE(may_connect(outcome, Options::OnError::continue_))
      << "continue: the connection goes on; its record is written later";
  EXPECT_TRUE(may_connect({WriteOutcome::written}, Options::OnError::fail_closed));
  EXPECT_TRUE(may_connect({WriteOutcome::dropped}, Options::OnError::fail_closed))
      << "on_overflow: drop chose to go on without the record (counted)";
  h.log->close();
  EXPECT_EQ(split_lines(h.control->contents()).size(), 2u) << "the record itself is written later";
  EXPECT_EQ(answer.load(), WriteOutcome::failed) << "told once";
}

TEST(AuditWriterCaller, ARecordSubmittedAfterReopenGoesToTheReopenedSink) {
  CallerHarness h;
  h.log->submit(sample_decision(1));
  ASSERT_TRUE(eventually([&] { return h.log->stats().records_written == 1; }));
  h.log->reopen();
  std::atomic<int> reopens_seen{-1};
  h.log->submit(sample_decision(2), [&](bool) {
    std::lock_guard lk(h.control->mu);
    reopens_seen = h.control->reopens;
  });
  h.log->close();
  EXPECT_EQ(reopens_seen.load(), 1) << "record 2 was written after the reopen, not before";
  EXPECT_EQ(split_lines(h.control->contents()).size(), 2u);
}

TEST(AuditWriterCaller, IntervalFsyncFollowsWritesMadeBySubmitters) {
  Options o;
  o.fsync = Options::Fsync::interval;
  o.fsync_interval = std::chrono::milliseconds(0);
  CallerHarness h(o);
  for (std::uint64_t i = 1; i <= 20; ++i) {
    h.log->submit(sample_decision(i));
    ASSERT_TRUE(eventually([&] { return h.log->stats().records_written == i; }));
  }
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(h.control->mu);
    return h.control->syncs >= 1;
  })) << "the writer thread syncs what submitters wrote";
  h.log->close();
}

}  // namespace
}  // namespace egress::audit
