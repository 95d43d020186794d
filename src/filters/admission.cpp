#include "filters/admission.hpp"

namespace egress::filters {

boost::asio::awaitable<std::optional<base::Outcome>> AdmissionFilter::on_connection(
    Facts& facts, FilterContext& /*context*/) {
  base::Reason refused{};
  facts.slots = limits_.admit(facts.listener.index, facts.src.address, refused);
  if (facts.slots.admitted()) co_return std::nullopt;
  const char* detail = refused == base::Reason::over_source_limit    ? "limits.per_source reached"
                       : refused == base::Reason::over_pending_limit ? "limits.max_pending reached"
                                                                     : "max_connections reached";
  co_return base::Outcome::denied(refused, detail);
}

}  // namespace egress::filters
