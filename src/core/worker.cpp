#include "core/worker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <stdexcept>

#include "config/dns_options.hpp"
#include "core/listener.hpp"
#include "policy/policy.hpp"
#include "tls/context.hpp"

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
  watch_expiry();
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

bool LiveCheck::empty() const noexcept {
  return !policy && expired.empty() &&
         std::none_of(crls.begin(), crls.end(), [](const auto& c) { return c != nullptr; });
}

void LiveCheck::merge(LiveCheck newer) {
  if (newer.policy) policy = std::move(newer.policy);
  if (crls.size() < newer.crls.size()) crls.resize(newer.crls.size());
  for (std::size_t i = 0; i < newer.crls.size(); ++i) {
    if (newer.crls[i]) crls[i] = std::move(newer.crls[i]);
  }
  for (auto& id : newer.expired) {
    if (std::find(expired.begin(), expired.end(), id) == expired.end()) {
      expired.push_back(std::move(id));
    }
  }
  if (newer.expiry_policy) expiry_policy = std::move(newer.expiry_policy);
}

void Worker::redecide(std::shared_ptr<const policy::Policy> policy,
                      std::function<void(RedecideCounts)> done) {
  LiveCheck check;
  check.policy = std::move(policy);
  recheck(std::move(check), std::move(done));
}

void Worker::recheck(LiveCheck check, std::function<void(RedecideCounts)> done) {
  asio::post(io_, [this, check = std::move(check), done = std::move(done)]() mutable {
    start_recheck(std::move(check), std::move(done));
  });
}

void Worker::start_recheck(LiveCheck check, std::function<void(RedecideCounts)> done) {
  if (redecide_job_) {
    // Superseded: what the running pass still had to check is checked again from the top, with
    // the newer policy or context where there is one.
    LiveCheck running = std::move(redecide_job_->check);
    finish_redecide();
    running.merge(std::move(check));
    check = std::move(running);
  }
  redecide_job_.emplace(RedecideJob{std::move(check), std::move(done), {}, ++redecide_generation_});
  redecide_next_ = live_head_;
  redecide_slice(redecide_generation_);
}

void Worker::redecide_slice(std::uint64_t generation) {
  if (!redecide_job_ || redecide_job_->generation != generation) return;
  RedecideJob& job = *redecide_job_;
  const LiveCheck& check = job.check;
  const auto now = std::chrono::system_clock::now();
  for (std::size_t seen = 0; redecide_next_ != nullptr && seen < kRedecideSlice; ++seen) {
    Connection& c = *redecide_next_;
    redecide_next_ = c.next_live;
    // Not yet relayed: the policy step decides (or decided) with the snapshot it takes itself,
    // and a handshake after a CRL reload is verified with the new CRL.
    if (!c.relaying || c.force_closed()) continue;
    std::optional<Revocation> why;
    // A revoked certificate first: a security event, whatever the policy says.
    const std::size_t listener = c.facts.listener.index;
    if (c.facts.identity && listener < check.crls.size() && check.crls[listener]) {
      ++job.counts.cert_checked;
      why = recheck_certificate(c.facts, check.crls[listener]->revocations());
      if (why) ++job.counts.cert_revoked;
    }
    if (!why && !check.expired.empty() && check.expiry_policy) {
      why = core::expire(c.facts, check.expired, *check.expiry_policy, now);
      if (why) ++job.counts.expired;
    }
    if (!why && check.policy) {
      ++job.counts.redecided;
      why = core::redecide(c.facts, *check.policy, now);
      if (why) ++job.counts.revoked;
    }
    // revoke() only cancels: the relay's end (and unlink) runs later, from the event loop.
    if (why) c.revoke(std::move(*why));
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

void Worker::watch_expiry() {
  asio::post(io_, [this] { arm_expiry(); });
}

void Worker::arm_expiry() {
  if (expiry_stopped_) return;
  const auto policy = runtime_.policy.current();
  // From the last firing, not from now: a rule that expired since (a reload re-arms before the
  // pending firing ran) still fires, at once.
  const auto next = policy ? next_expiry(*policy, expiry_from_) : std::nullopt;
  const std::uint64_t generation = ++expiry_generation_;
  if (!next) {
    expiry_timer_.cancel();
    return;
  }
  expiry_timer_.expires_at(*next);
  expiry_timer_.async_wait([this, generation](const boost::system::error_code& ec) {
    if (ec || generation != expiry_generation_) return;
    on_expiry();
  });
}

void Worker::on_expiry() {
  // The engine says `now < expires`: at the instant itself the rule no longer allows.
  const auto now = std::max(std::chrono::system_clock::now(), expiry_timer_.expiry());
  const auto policy = runtime_.policy.current();
  if (policy) {
    LiveCheck check;
    check.expired = rules_expiring(*policy, expiry_from_, now);
    check.expiry_policy = policy;
    if (!check.expired.empty()) {
      std::string ids;
      for (const auto& id : check.expired) ids += (ids.empty() ? "'" : ", '") + id + "'";
      start_recheck(std::move(check), [index = index_, ids](RedecideCounts c) {
        if (c.expired > 0) {
          spdlog::info("worker {}: rule {} expired: {} live connections closed", index, ids,
                       c.expired);
        }
      });
    }
  }
  expiry_from_ = now;
  arm_expiry();
}

void Worker::join() {
  // A pending expiry wait would keep the event loop running.
  asio::post(io_, [this] {
    expiry_stopped_ = true;
    expiry_timer_.cancel();
  });
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
