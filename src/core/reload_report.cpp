#include "core/reload_report.hpp"

#include <boost/json/array.hpp>

#include "clock/rfc3339.hpp"

namespace egress::core {
namespace {

void worsen(ReloadPart& part, PartResult r) {
  if (static_cast<int>(r) > static_cast<int>(part.result)) part.result = r;
}

boost::json::array to_array(const std::vector<std::string>& v) {
  boost::json::array out;
  for (const auto& s : v) out.emplace_back(s);
  return out;
}

boost::json::object part_json(const ReloadPart& p) {
  boost::json::object o;
  o["result"] = to_string(p.result);
  o["errors"] = to_array(p.errors);
  return o;
}

}  // namespace

std::string_view to_string(PartResult r) noexcept {
  switch (r) {
    case PartResult::ok:
      return "ok";
    case PartResult::skipped:
      return "skipped";
    case PartResult::failed:
      return "failed";
  }
  return "failed";
}

std::string listener_error(std::string_view where, const tls::ContextError& error) {
  return std::string(where) + (error.option.empty() ? ": " : ".") + error.to_string();
}

bool ReloadReport::ok() const noexcept {
  return policy.result == PartResult::ok && (!tls || tls->result == PartResult::ok) &&
         (!crl || crl->result == PartResult::ok);
}

std::vector<std::string> ReloadReport::errors() const {
  std::vector<std::string> out = policy.errors;
  if (tls) out.insert(out.end(), tls->errors.begin(), tls->errors.end());
  if (crl) out.insert(out.end(), crl->errors.begin(), crl->errors.end());
  return out;
}

void ReloadReport::add_listener(std::string_view where,
                                const std::optional<tls::ContextError>& error, bool has_crl) {
  if (!tls) tls.emplace();
  if (has_crl && !crl) crl.emplace();
  if (!error) return;
  std::string message = listener_error(where, *error);
  if (error->option == "crl") {
    crl->errors.push_back(std::move(message));
    worsen(*crl, PartResult::failed);
    worsen(*tls, PartResult::skipped);
  } else {
    tls->errors.push_back(std::move(message));
    worsen(*tls, PartResult::failed);
    if (has_crl) worsen(*crl, PartResult::skipped);
  }
}

boost::json::object to_json(const ReloadReport& r) {
  boost::json::object o;
  o["result"] = r.ok() ? "ok" : "failed";
  o["at"] = clock::format_rfc3339(r.at);
  o["errors"] = to_array(r.errors());
  boost::json::object parts;
  boost::json::object policy = part_json(r.policy);
  policy["version"] = r.policy_version;
  policy["rule_count"] = r.rule_count;
  if (r.live) {
    policy["redecided"] = r.live->redecided;
    policy["revoked"] = r.live->revoked;
    if (r.live->unanswered > 0) policy["redecide_unanswered"] = r.live->unanswered;
  }
  parts["policy"] = std::move(policy);
  if (r.tls) parts["tls"] = part_json(*r.tls);
  if (r.crl) {
    boost::json::object crl = part_json(*r.crl);
    if (!r.crl_next_update.empty()) crl["next_update"] = r.crl_next_update;
    if (r.crl_live) {
      crl["checked"] = r.crl_live->checked;
      crl["revoked"] = r.crl_live->revoked;
      if (r.crl_live->unanswered > 0) crl["check_unanswered"] = r.crl_live->unanswered;
    }
    parts["crl"] = std::move(crl);
  }
  o["parts"] = std::move(parts);
  return o;
}

std::optional<std::string> crl_not_ready_reason(std::string_view where,
                                                std::string_view next_update,
                                                std::chrono::system_clock::time_point now) {
  if (next_update.empty()) return std::nullopt;
  const auto next = clock::parse_rfc3339(next_update);
  // A nextUpdate we cannot read is treated as passed: never report ready on a guess.
  if (next && now < *next) return std::nullopt;
  return std::string(where) + ": the CRL is past its nextUpdate (" + std::string(next_update) +
         "): every client certificate is refused until a current CRL is loaded (SIGHUP)";
}

}  // namespace egress::core
