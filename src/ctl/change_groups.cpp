#include "ctl/change_groups.hpp"

#include <algorithm>
#include <functional>

namespace egress::ctl {
namespace {

// 100,000 hashes (a few MB) at most: past that the count of groups not held is a lower bound.
constexpr std::size_t kMaxCountedKeys = 100'000;

}  // namespace

std::string_view to_string(ChangeKind kind) noexcept {
  switch (kind) {
    case ChangeKind::tighten:
      return "tighten";
    case ChangeKind::widen:
      return "widen";
    case ChangeKind::rule_changed:
      return "rule_changed";
  }
  return "rule_changed";
}

bool classify(const DecisionSide& before, const DecisionSide& after, ChangeKind& kind) {
  if (before.decision == after.decision) {
    if (before.rule == after.rule) return false;
    kind = ChangeKind::rule_changed;
  } else {
    kind = after.decision == "deny" ? ChangeKind::tighten : ChangeKind::widen;
  }
  return true;
}

void ChangeTable::add(ChangeKind kind, std::string_view client, std::string_view dst,
                      std::string_view host, const DecisionSide& before, const DecisionSide& after,
                      std::chrono::system_clock::time_point ts, std::string_view ts_text) {
  std::string key;
  key.reserve(client.size() + dst.size() + host.size() + before.rule.size() + after.rule.size() +
              24);
  for (std::string_view part : {to_string(kind), client, dst, host,
                                std::string_view(before.decision), std::string_view(before.rule),
                                std::string_view(after.decision), std::string_view(after.rule)}) {
    key += part;
    key += '\x1f';
  }
  auto it = groups_.find(key);
  if (it == groups_.end()) {
    if (groups_.size() >= max_groups_) {
      ++more_records_;
      if (more_keys_.size() < kMaxCountedKeys) more_keys_.insert(std::hash<std::string>{}(key));
      return;
    }
    ChangeGroup g;
    g.kind = kind;
    g.client = client;
    g.dst = dst;
    g.host = host;
    g.before = before;
    g.after = after;
    g.first = g.last = ts;
    g.first_seen = g.last_seen = ts_text;
    it = groups_.emplace(std::move(key), std::move(g)).first;
  }
  auto& g = it->second;
  ++g.count;
  if (ts < g.first) {
    g.first = ts;
    g.first_seen = ts_text;
  }
  if (ts > g.last) {
    g.last = ts;
    g.last_seen = ts_text;
  }
}

std::vector<ChangeGroup> ChangeTable::groups() const {
  std::vector<ChangeGroup> out;
  out.reserve(groups_.size());
  for (const auto& [key, g] : groups_) out.push_back(g);
  std::sort(out.begin(), out.end(), [](const ChangeGroup& a, const ChangeGroup& b) {
    if (a.kind != b.kind) return a.kind < b.kind;
    if (a.count != b.count) return a.count > b.count;
    return std::tie(a.client, a.dst, a.host, a.before.rule, a.after.rule) <
           std::tie(b.client, b.dst, b.host, b.before.rule, b.after.rule);
  });
  return out;
}

}  // namespace egress::ctl
