#pragma once

#include <chrono>
#include <vector>

#include "base/diagnostic.hpp"
#include "policy/model.hpp"
#include "policy/store.hpp"

namespace egress::policy {

/// Warnings for a valid model (`egressctl policy check`, exit 0 unless --strict): rules that can
/// never match (every destination carved out by `except`, or inside deny_destinations), allow
/// rules fully shadowed by an enforce-mode deny rule, expired rules, rules expiring within 14
/// days of `now`.
std::vector<base::Diagnostic> lint(const model::Model& model,
                                   std::chrono::system_clock::time_point now);

}  // namespace egress::policy
