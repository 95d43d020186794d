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
    case Reason::name_mismatch:
      return "name_mismatch";
    case Reason::name_unresolved:
      return "name_unresolved";
  }
  return "default";
}

std::string_view to_string(NameVerification v) noexcept {
  switch (v) {
    case NameVerification::not_checked:
      return "not_checked";
    case NameVerification::match:
      return "match";
    case NameVerification::mismatch:
      return "mismatch";
    case NameVerification::unresolved:
      return "unresolved";
  }
  return "not_checked";
}

std::string_view to_string(HostVerification v) noexcept {
  switch (v) {
    case HostVerification::strict:
      return "strict";
    case HostVerification::report:
      return "report";
    case HostVerification::off:
      return "off";
  }
  return "strict";
}

}  // namespace egress::policy
