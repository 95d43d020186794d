// libFuzzer target for the policy loader: the input is split into files at NUL bytes (at most 4),
// loaded in memory, and, when it compiles, evaluated once. Build and run: tests/fuzz/README.md.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/loader.hpp"
#include "policy/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace egress::policy;
  std::vector<SourceFile> files;
  std::string current;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0 && files.size() < 3) {
      files.push_back({std::to_string(files.size()) + ".yaml", current});
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  files.push_back({std::to_string(files.size()) + ".yaml", current});
  auto r = load_policy_sources(files);
  if (r.errors.empty() != (r.policy != nullptr)) __builtin_trap();
  if (r.policy) {
    egress::base::Identity id;
    id.spiffe_id = "spiffe://corp.example/ns/payments/sa/api";
    id.uri_sans = {id.spiffe_id};
    id.dns_sans = {"api.example.com"};
    id.common_name = "api";
    ConnectionFacts f{*egress::base::IpAddress::parse("192.0.2.2"),
                      *egress::base::IpAddress::parse("203.0.113.20"),
                      443,
                      &id,
                      {},
                      "API.example.com.",
                      egress::policy::NameVerification::match};
    (void)r.policy->evaluate(f);
    (void)r.policy->may_depend_on_name(f);
  }
  return 0;
}
