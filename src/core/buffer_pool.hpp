#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace egress::core {

/// Relay buffers of one worker, reused: a connection holds one only while bytes flow in a
/// direction, so idle connections hold none. Single-threaded (one pool per worker thread).
class BufferPool {
 public:
  static constexpr std::size_t kBufferSize = 64 * 1024;

  /// `keep`: how many free buffers to cache; beyond that, released buffers are freed.
  explicit BufferPool(std::size_t keep = 64) : keep_(keep) {}
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  /// A buffer of kBufferSize bytes, returned to the pool when the lease ends.
  class Lease {
   public:
    Lease(BufferPool& pool, std::unique_ptr<std::byte[]> buf)
        : pool_(&pool), buf_(std::move(buf)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), buf_(std::move(o.buf_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (buf_) pool_->give_back(std::move(buf_));
    }
    std::byte* data() const noexcept { return buf_.get(); }
    static constexpr std::size_t size() noexcept { return kBufferSize; }

   private:
    BufferPool* pool_;
    std::unique_ptr<std::byte[]> buf_;
  };

  Lease acquire() {
    if (free_.empty()) {
      ++allocated_;
      return Lease(*this, std::unique_ptr<std::byte[]>(new std::byte[kBufferSize]));
    }
    auto buf = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(buf));
  }

  /// Buffers currently cached (free).
  std::size_t cached() const noexcept { return free_.size(); }
  /// Buffers ever allocated.
  std::size_t allocated() const noexcept { return allocated_; }

 private:
  void give_back(std::unique_ptr<std::byte[]> buf) {
    if (free_.size() < keep_) free_.push_back(std::move(buf));
  }

  std::size_t keep_;
  std::size_t allocated_ = 0;
  std::vector<std::unique_ptr<std::byte[]>> free_;
};

}  // namespace egress::core
