#include "resolve/verification.hpp"

#include <algorithm>
#include <utility>

namespace egress::resolve {

std::string_view to_string(Verdict verdict) noexcept {
  switch (verdict) {
    case Verdict::match:
      return "match";
    case Verdict::mismatch:
      return "mismatch";
    case Verdict::unresolved:
      return "unresolved";
  }
  return "unresolved";
}

Verification decide(std::vector<base::IpAddress> held, const base::IpAddress& destination,
                    std::string_view detail) {
  if (std::find(held.begin(), held.end(), destination) != held.end()) {
    return {Verdict::match, {}, std::move(held)};
  }
  if (!held.empty()) return {Verdict::mismatch, {}, std::move(held)};
  return {
      Verdict::unresolved, detail.empty() ? std::string("no address") : std::string(detail), {}};
}

}  // namespace egress::resolve
