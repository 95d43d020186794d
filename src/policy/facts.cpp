#include "policy/facts.hpp"

namespace egress::policy {

std::string_view to_string(Action a) noexcept {
  return a == Action::allow ? "allow" : "deny";
}

std::string_view to_string(Reason r) noexcept {
  switch (r) {
    case Reason::deny_destination:
      return "deny_destination";
    case Reason::rule:
      return "rule";
    case Reason::default_action:
      return "default";
  }
  return "default";
}

}  // namespace egress::policy
