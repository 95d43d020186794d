#pragma once

// A policy directory on disk with a store on it, for tests that run the real chain (chain_test,
// session_test): the policy goes through policy_source as egressd's own does.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "policy/store.hpp"
#include "policy_source/directory.hpp"

namespace egress::filters::testing {

/// Deny by default; `block-x` denies 203.0.113.66; `allow-web` allows 203.0.113.0/24 port 80.
inline constexpr std::string_view kWebPolicy = R"(kind: Settings
default: deny
---
kind: Rule
id: block-x
action: deny
from: [{any: true}]
to: [{cidrs: [203.0.113.66/32]}]
---
kind: Rule
id: allow-web
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.0/24], ports: [80]}]
)";

/// A temporary directory (removed with the object) holding policy.yaml, and a store reading it.
/// Nothing is loaded until store().reload().
class PolicyDir {
 public:
  explicit PolicyDir(std::string_view tag, std::string_view text = kWebPolicy)
      : dir_(std::filesystem::temp_directory_path() /
             ("egress-" + std::string(tag) + "-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir_);
    write(text);
    store_ = std::make_unique<policy::PolicyStore>(dir_, policy_source::directory_loader(dir_));
  }
  ~PolicyDir() { std::filesystem::remove_all(dir_); }
  PolicyDir(const PolicyDir&) = delete;
  PolicyDir& operator=(const PolicyDir&) = delete;

  /// Replaces policy.yaml (a reload then reads it).
  void write(std::string_view text) { std::ofstream(dir_ / "policy.yaml") << text; }
  policy::PolicyStore& store() noexcept { return *store_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<policy::PolicyStore> store_;
};

}  // namespace egress::filters::testing
