#pragma once

#include <cstddef>
#include <string>

#include "config/config.hpp"

namespace egress::filters {

/// A configured listener as the data path sees it: its index (for metrics tables and limits) and
/// its config. Immutable; shared by every worker.
struct ListenerInfo {
  std::size_t index = 0;
  config::ListenerConfig config;
  const std::string& name() const noexcept { return config.name; }
};

}  // namespace egress::filters
