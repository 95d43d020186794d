#include "core/worker.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <stdexcept>

#include "config/dns_options.hpp"
#include "core/listener.hpp"
#include "policy/policy.hpp"

namespace egress::core {

namespace asio = boost::asio;

Worker::Worker(unsigned index, Runtime& runtime)
    : index_(index), runtime_(runtime), work_(asio::make_work_guard(io_)) {
  try {
    resolver_ = std::make_unique<resolve::Resolver>(io_.get_executor(),
                                                    config::resolver_options(runtime_.config.dns));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("dns: cannot start the resolver: ") + e.what());
  }
  names_ = std::make_unique<resolve::NameVerifier>(*resolver_, runtime_.held_answers);
  for (const auto& l : runtime_.listeners) {
    acceptors_.push_back(open_acceptor(io_, l.config));
    chains_.push_back(runtime_.chains[l.index]->build(*names_));
  }
}

Worker::~Worker() {
  if (thread_.joinable()) {
    work_.reset();
    io_.stop();
    thread_.join();
  }
}

void Worker::start() {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) {
    asio::co_spawn(io_, accept_loop(*this, i, acceptors_[i]), asio::detached);
  }
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      // No exception is meant to leave a connection; if one does, the worker is broken.
      spdlog::critical("worker {}: {}", index_, e.what());
      std::abort();
    }
  });
}

void Worker::stop_accepting() {
  asio::post(io_, [this] {
    accepting_ = false;
    for (auto& a : acceptors_) {
      boost::system::error_code ignored;
      a.close(ignored);
    }
  });
}

void Worker::force_close_all() {
  asio::post(io_, [this] {
    for (Connection* c = live_head_; c != nullptr; c = c->next_live) {
      if (!c->force_closed()) {
        c->force_close();
        forced_count_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });
}

void Worker::redecide(std::shared_ptr<const policy::Policy> policy,
                      std::function<void(RedecideCounts)> done) {
  asio::post(io_, [this, policy = std::move(policy), done = std::move(done)]() mutable {
    if (redecide_job_) finish_redecide();  // superseded: the newer policy decides from the top
    redecide_job_.emplace(
        RedecideJob{std::move(policy), std::move(done), {}, ++redecide_generation_});
    redecide_next_ = live_head_;
    redecide_slice(redecide_generation_);
  });
}

void Worker::redecide_slice(std::uint64_t generation) {
  if (!redecide_job_ || redecide_job_->generation != generation) return;
  RedecideJob& job = *redecide_job_;
  const auto now = std::chrono::system_clock::now();
  for (std::size_t seen = 0; redecide_next_ != nullptr && seen < kRedecideSlice; ++seen) {
    Connection& c = *redecide_next_;
    redecide_next_ = c.next_live;
    // Not yet relayed: the policy step decides (or decided) with the snapshot it takes itself.
    if (!c.relaying || c.force_closed()) continue;
    ++job.counts.redecided;
    if (auto why = core::redecide(c.facts, *job.policy, now)) {
      // revoke() only cancels: the relay's end (and unlink) runs later, from the event loop.
      c.revoke(std::move(*why));
      ++job.counts.revoked;
    }
  }
  if (redecide_next_ != nullptr) {
    asio::post(io_, [this, generation] { redecide_slice(generation); });
    return;
  }
  finish_redecide();
}

void Worker::finish_redecide() {
  RedecideJob job = std::move(*redecide_job_);
  redecide_job_.reset();
  redecide_next_ = nullptr;
  if (job.done) job.done(job.counts);
}

void Worker::join() {
  work_.reset();
  if (thread_.joinable()) thread_.join();
}

void Worker::link(Connection& c) noexcept {
  c.prev_live = nullptr;
  c.next_live = live_head_;
  if (live_head_ != nullptr) live_head_->prev_live = &c;
  live_head_ = &c;
  live_count_.fetch_add(1, std::memory_order_relaxed);
}

void Worker::unlink(Connection& c) noexcept {
  if (redecide_next_ == &c) redecide_next_ = c.next_live;
  if (c.prev_live != nullptr) {
    c.prev_live->next_live = c.next_live;
  } else {
    live_head_ = c.next_live;
  }
  if (c.next_live != nullptr) c.next_live->prev_live = c.prev_live;
  c.prev_live = c.next_live = nullptr;
  live_count_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace egress::core
