#pragma once

#include <functional>
#include <string>

#include "resolve/answer.hpp"

namespace egress::resolve {

/// Something that looks names up: the c-ares Resolver, or a fake in tests and benchmarks.
/// Single-threaded: lookup() is called, and `done` runs, on one executor's thread.
class NameLookup {
 public:
  using Callback = std::function<void(Answer)>;

  virtual ~NameLookup() = default;
  /// Looks `name` up (A and AAAA). `done` runs exactly once, never inside lookup() itself
  /// (it is posted), so a caller may hold state across the call.
  virtual void lookup(const std::string& name, Callback done) = 0;
};

}  // namespace egress::resolve
