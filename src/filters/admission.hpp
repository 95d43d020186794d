#pragma once

#include "filters/connection_limits.hpp"
#include "filters/filter.hpp"

namespace egress::filters {

/// Takes the connection's slots (limits.per_source, max_connections, limits.max_pending) into
/// facts.slots, or denies over_source_limit / over_limit / over_pending_limit when one is full.
/// Runs right after original_dst, so the deny record still says where the client was going, and
/// before anything that waits (the TLS handshake). Never waits.
class AdmissionFilter final : public ConnectionFilter {
 public:
  explicit AdmissionFilter(ConnectionLimits& limits) : limits_(limits) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "admission"; }
  boost::asio::awaitable<std::optional<base::Outcome>> on_connection(
      Facts& facts, FilterContext& context) override;

 private:
  ConnectionLimits& limits_;
};

}  // namespace egress::filters
