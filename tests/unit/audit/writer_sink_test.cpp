// The writer's queue, overflow and failure behaviour, against a sink the test controls.
#include "audit/writer.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

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

using Harness = testing::FakeSinkLog;

Options with(Options::Overflow overflow, std::size_t capacity) {
  Options o;
  o.on_overflow = overflow;
  o.queue_capacity = capacity;
  return o;
}

TEST(AuditWriterQueue, DropModeCountsDropsAndReportsThemInTheNextRecord) {
  // The capacity counts every record not yet written: queued ones and the writer's batch.
  Harness h(with(Options::Overflow::drop, 3));
  h.control->set_hold(true);
  h.log->submit(sample_decision(1));
  h.control->wait_entered(1);  // the writer holds record 1 inside write()
  h.log->submit(sample_decision(2));
  h.log->submit(sample_decision(3));  // the queue (capacity 3) is now full
  std::atomic<int> refused{0};
  for (std::uint64_t i = 4; i <= 6; ++i) {
    h.log->submit(sample_decision(i), [&](WriteOutcome o) {
      if (o.kind == WriteOutcome::dropped) ++refused;
    });
  }
  EXPECT_EQ(refused.load(), 3) << "a dropped record's callback says dropped at once";
  EXPECT_EQ(h.log->stats().records_dropped, 3u);
  EXPECT_EQ(h.log->stats().queue_depth, 3u);
  h.control->set_hold(false);
  h.log->close();

  const auto lines = split_lines(h.control->contents());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_FALSE(parse_object(lines[0]).contains("records_dropped"));
  const auto second = parse_object(lines[1]);
  EXPECT_EQ(conn_counter(second), 2);
  EXPECT_EQ(second.at("records_dropped").as_int64(), 3);
  EXPECT_FALSE(parse_object(lines[2]).contains("records_dropped"));
  EXPECT_EQ(h.log->stats().records_written, 3u);
}

TEST(AuditWriterQueue, BlockModeWaitsForRoomAndLosesNothing) {
  Harness h(with(Options::Overflow::block, 2));
  h.control->set_hold(true);
  h.log->submit(sample_decision(1));
  h.control->wait_entered(1);
  h.log->submit(sample_decision(2));  // fills the queue (record 1 counts until it is written)
  std::atomic<bool> third_done{false};
  std::thread submitter([&] {
    h.log->submit(sample_decision(3));
    third_done = true;
  });
  // The third submit cannot complete while the writer is held and the queue is full.
  EXPECT_FALSE(third_done.load());
  h.control->set_hold(false);
  submitter.join();
  EXPECT_TRUE(third_done.load());
  h.log->close();
  EXPECT_EQ(split_lines(h.control->contents()).size(), 3u);
  EXPECT_EQ(h.log->stats().records_dropped, 0u);
}

TEST(AuditWriterFailure, UnhealthyWhileTheSinkFailsThenRecoversWithTheChainIntact) {
  Harness h(with(Options::Overflow::block, 16));
  h.log->submit(sample_decision(1));
  ASSERT_TRUE(eventually([&] { return h.log->stats().records_written == 1; }));
  EXPECT_TRUE(h.log->healthy());

  h.control->set_fail(true);
  std::atomic<int> result{-1};
  h.log->submit(sample_decision(2), [&](bool written) { result = written ? 1 : 0; });
  ASSERT_TRUE(eventually([&] { return result.load() != -1; }));
  EXPECT_EQ(result.load(), 0) << "write-ahead callers hear false while the sink fails";
  EXPECT_FALSE(h.log->healthy());
  EXPECT_FALSE(h.log->stats().sink_healthy);
  EXPECT_GE(h.log->stats().write_errors, 1u);

  h.control->set_fail(false);
  ASSERT_TRUE(eventually([&] { return h.log->healthy(); })) << "recovers by itself";
  h.log->submit(sample_decision(3));
  h.log->close();

  const auto lines = split_lines(h.control->contents());
  ASSERT_EQ(lines.size(), 3u) << "the failed record is written once the sink recovers";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto o = parse_object(lines[i]);
    EXPECT_EQ(o.at("seq").as_int64(), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(conn_counter(o), static_cast<std::uint64_t>(i + 1));
    if (i > 0) {
      EXPECT_EQ(o.at("prev").as_string(), sha256_hex(lines[i - 1]));
    }
  }
}

TEST(AuditWriterFailure, ARecordSubmittedWhileTheSinkFailsIsToldFalseAtOnce) {
  // The writer retries the failed write and encodes nothing new meanwhile: a write-ahead caller
  // that submits now must not wait for the disk (on_error: continue goes on, fail_closed denies).
  Harness h(with(Options::Overflow::block, 16));
  h.control->set_fail(true);
  std::atomic<int> first{-1};
  h.log->submit(sample_decision(1), [&](bool written) { first = written ? 1 : 0; });
  ASSERT_TRUE(eventually([&] { return first.load() != -1; }));
  ASSERT_FALSE(h.log->healthy());
  std::atomic<int> later{-1};
  h.log->submit(sample_decision(2), [&](bool written) { later = written ? 1 : 0; });
  EXPECT_EQ(later.load(), 0) << "told false inside submit(), not after the sink recovers";

  h.control->set_fail(false);
  ASSERT_TRUE(eventually([&] { return h.log->healthy(); }));
  h.log->close();
  EXPECT_EQ(split_lines(h.control->contents()).size(), 2u) << "both written once the sink recovers";
  EXPECT_EQ(later.load(), 0) << "the callback is called once";
}

TEST(AuditWriterFailure, AFullQueueOfAFailingSinkDropsInsteadOfBlocking) {
  Harness h(with(Options::Overflow::block, 2));
  h.control->set_fail(true);
  h.log->submit(sample_decision(1));
  ASSERT_TRUE(eventually([&] { return !h.log->healthy(); }));
  // Record 1 waits for its retry; the queue fills; further submits must not block.
  std::atomic<int> dropped_by_choice{0};
  for (std::uint64_t i = 2; i <= 6; ++i) {
    h.log->submit(sample_decision(i), [&](WriteOutcome o) {
      if (o.kind == WriteOutcome::dropped) ++dropped_by_choice;
    });
  }
  EXPECT_GE(h.log->stats().records_dropped, 3u);
  EXPECT_EQ(dropped_by_choice.load(), 0)
      << "a record dropped because the sink fails is told failed: fail_closed denies it";
  h.control->set_fail(false);
  h.log->close();
  const auto lines = split_lines(h.control->contents());
  ASSERT_FALSE(lines.empty());
  std::uint64_t reported = 0;
  for (const auto& l : lines) {
    const auto o = parse_object(l);
    if (o.contains("records_dropped"))
      reported += o.at("records_dropped").to_number<std::uint64_t>();
  }
  EXPECT_EQ(lines.size() + reported, 6u) << "every record is either written or counted";
}

// Every line names the hash of the one before it, seq counts from 1, conn_id = seq.
void expect_whole_chain(const std::string& contents, std::size_t records) {
  EXPECT_TRUE(contents.empty() || contents.back() == '\n') << "no torn last line";
  const auto lines = split_lines(contents);
  ASSERT_EQ(lines.size(), records);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto o = parse_object(lines[i]);
    EXPECT_EQ(o.at("seq").to_number<std::uint64_t>(), i + 1) << lines[i];
    EXPECT_EQ(conn_counter(o), i + 1) << lines[i];
    const std::string prev = i == 0 ? std::string(kGenesisHash) : sha256_hex(lines[i - 1]);
    EXPECT_EQ(o.at("prev").as_string(), prev) << "line " << i + 1;
  }
}

// Issue 17 item 11. Records 2..9 become one batch (the writer is held in record 2's write while
// they queue); the sink has room for record 2, two more lines and half of one. Returns the line
// length (all lines are equally long: one-digit seq and conn_id).
std::size_t batch_into_a_nearly_full_sink(Harness& h, bool cut_torn,
                                          std::vector<std::atomic<int>>& answers) {
  h.log->submit(sample_decision(1));
  EXPECT_TRUE(eventually([&] { return h.log->stats().records_written == 1; }));
  const std::size_t line = h.control->contents().size();
  h.control->set_hold(true);
  const auto answer = [&](std::uint64_t i) {
    return [&answers, i](bool written) { answers[i] = written ? 1 : 0; };
  };
  h.log->submit(sample_decision(2), answer(2));
  h.control->wait_entered(2);
  for (std::uint64_t i = 3; i <= 9; ++i) h.log->submit(sample_decision(i), answer(i));
  {
    std::lock_guard lk(h.control->mu);
    h.control->cut_torn = cut_torn;
    h.control->room = static_cast<long long>(3 * line + line / 2);
  }
  h.control->set_hold(false);
  return line;
}

TEST(AuditWriterPartialWrite, ASinkWithRoomForSomeRecordsTakesThemAndTheRestLater) {
  Harness h(with(Options::Overflow::block, 64));
  std::vector<std::atomic<int>> answers(10);
  for (auto& a : answers) a = -1;
  const std::size_t line = batch_into_a_nearly_full_sink(h, true, answers);
  ASSERT_TRUE(eventually([&] { return answers[9].load() != -1; }));
  EXPECT_EQ(answers[2].load(), 1);
  EXPECT_EQ(answers[3].load(), 1) << "a record that fitted is written, not retried with the batch";
  EXPECT_EQ(answers[4].load(), 1);
  for (std::size_t i = 5; i <= 9; ++i) EXPECT_EQ(answers[i].load(), 0) << "record " << i;
  EXPECT_EQ(h.log->stats().records_written, 4u);
  EXPECT_EQ(h.log->stats().queue_depth, 5u) << "the written records' slots are free again";
  EXPECT_FALSE(h.log->healthy()) << "the rest does not fit: still failing closed";
  EXPECT_EQ(h.control->contents().size(), 4 * line) << "whole lines only";

  h.control->set_room(static_cast<long long>(5 * line));  // exactly the rest
  ASSERT_TRUE(eventually([&] { return h.log->healthy(); })) << "healthy once the rest fits";
  EXPECT_EQ(h.log->stats().records_written, 9u);
  EXPECT_EQ(h.log->stats().queue_depth, 0u);
  h.log->close();
  expect_whole_chain(h.control->contents(), 9);
  EXPECT_EQ(h.log->stats().records_dropped, 0u);
  EXPECT_EQ(answers[5].load(), 0) << "told once";
}

TEST(AuditWriterPartialWrite, RoomForOneRecordAtATimeWritesOneRecordAtATime) {
  Harness h(with(Options::Overflow::block, 64));
  std::vector<std::atomic<int>> answers(10);
  for (auto& a : answers) a = -1;
  const std::size_t line = batch_into_a_nearly_full_sink(h, true, answers);
  ASSERT_TRUE(eventually([&] { return answers[9].load() != -1; }));
  for (std::uint64_t written = 4; written < 9; ++written) {
    h.control->set_room(static_cast<long long>(line));
    ASSERT_TRUE(eventually([&] { return h.log->stats().records_written == written + 1; }))
        << "a hole of one line takes one record (written " << h.log->stats().records_written << ")";
  }
  ASSERT_TRUE(eventually([&] { return h.log->healthy(); }));
  h.log->close();
  expect_whole_chain(h.control->contents(), 9);
}

TEST(AuditWriterPartialWrite, ALineCutInTheMiddleByAPipeIsCompletedFirst) {
  Harness h(with(Options::Overflow::block, 64));
  std::vector<std::atomic<int>> answers(10);
  for (auto& a : answers) a = -1;
  const std::size_t line = batch_into_a_nearly_full_sink(h, false, answers);
  ASSERT_TRUE(eventually([&] { return answers[9].load() != -1; }));
  EXPECT_EQ(answers[4].load(), 1);
  EXPECT_EQ(answers[5].load(), 0) << "half a line is not written";
  EXPECT_EQ(h.log->stats().records_written, 4u);
  EXPECT_EQ(h.control->contents().size(), 4 * line + line / 2);
  h.control->set_room(-1);
  ASSERT_TRUE(eventually([&] { return h.log->healthy(); }));
  h.log->close();
  expect_whole_chain(h.control->contents(), 9);
}

TEST(AuditWriterClose, CloseWaitsForAFailingSinkAndWritesEverythingQueued) {
  Harness h(with(Options::Overflow::block, 64));
  h.control->set_fail(true);
  for (std::uint64_t i = 1; i <= 5; ++i) h.log->submit(sample_decision(i));
  ASSERT_TRUE(eventually([&] { return !h.log->healthy(); }));
  std::thread disk_back([&] {
    ::usleep(300 * 1000);
    h.control->set_fail(false);
  });
  h.log->close();  // the disk comes back while close() waits (flush_timeout 5 s)
  disk_back.join();
  expect_whole_chain(h.control->contents(), 5);
  EXPECT_EQ(h.log->stats().records_dropped, 0u) << "nothing lost at shutdown";
  EXPECT_EQ(h.log->stats().records_written, 5u);
  EXPECT_EQ(h.log->stats().queue_depth, 0u);
}

TEST(AuditWriterClose, CloseGivesUpAfterFlushTimeoutAndCountsWhatIsLost) {
  Options o = with(Options::Overflow::block, 64);
  o.flush_timeout = std::chrono::milliseconds(200);
  Harness h(o);
  h.log->submit(sample_decision(1));
  ASSERT_TRUE(eventually([&] { return h.log->stats().records_written == 1; }));
  h.control->set_fail(true);
  for (std::uint64_t i = 2; i <= 6; ++i) h.log->submit(sample_decision(i));
  const auto start = std::chrono::steady_clock::now();
  h.log->close();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3)) << "bounded";
  EXPECT_EQ(h.log->stats().records_written, 1u);
  EXPECT_EQ(h.log->stats().records_dropped, 5u) << "every record not written is counted";
  EXPECT_EQ(h.log->stats().queue_depth, 0u);
  expect_whole_chain(h.control->contents(), 1);
}

TEST(AuditWriterLifecycle, SubmitAfterCloseIsCountedNotLost) {
  Harness h(with(Options::Overflow::block, 4));
  h.log->close();
  bool called = false, written = true;
  h.log->submit(sample_decision(1), [&](bool w) {
    called = true;
    written = w;
  });
  EXPECT_TRUE(called);
  EXPECT_FALSE(written);
  EXPECT_EQ(h.log->stats().records_dropped, 1u);
  h.log->close();  // idempotent
}

TEST(AuditWriterLifecycle, ReopenIsPassedToTheSink) {
  Harness h(with(Options::Overflow::block, 4));
  h.log->reopen();
  h.log->submit(sample_decision(1));
  h.log->close();
  EXPECT_EQ(h.control->reopens, 1);
}

TEST(AuditWriterFsync, IntervalSyncsAfterWritesAndNoneOnlyAtClose) {
  Options interval = with(Options::Overflow::block, 16);
  interval.fsync = Options::Fsync::interval;
  interval.fsync_interval = std::chrono::milliseconds(0);
  Harness a(interval);
  a.log->submit(sample_decision(1));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(a.control->mu);
    return a.control->syncs >= 1;
  })) << "fsync: interval syncs written data without waiting for close";

  Harness b(with(Options::Overflow::block, 16));
  b.log->submit(sample_decision(1));
  ASSERT_TRUE(eventually([&] { return b.log->stats().records_written == 1; }));
  {
    std::lock_guard lk(b.control->mu);
    EXPECT_EQ(b.control->syncs, 0) << "fsync: none does not sync per write";
  }
  b.log->close();
  EXPECT_EQ(b.control->syncs, 1) << "close flushes to disk once";
}

}  // namespace
}  // namespace egress::audit
