// The loader must survive any bytes (issue 2): random and mutated inputs never crash and never
// produce a policy out of garbage.
#include <gtest/gtest.h>

#include <random>

#include "policy/loader.hpp"
#include "policy/policy.hpp"

namespace egress::policy {
namespace {

const char* kSeed = R"(kind: Settings
default: deny
deny_destinations: [builtin:non_public]
---
kind: Role
name: payments
members:
  - identity: "spiffe://corp.example/ns/payments/sa/*"
  - {source: 192.0.2.0/28, common_name: "regex:a+"}
---
kind: Destination
name: d
cidrs: [203.0.113.16/28, "2001:db8:2::20/128"]
except: [203.0.113.17]
ports: [443, "8443-8450"]
---
kind: Rule
id: r
action: allow
mode: report
from: [{role: payments}, {dns_name: "*.example.com"}]
to: [{destination: d}, {ports: [22]}]
expires: 2027-03-31T00:00:00Z
---
kind: PolicyTest
cases:
  - {src: 192.0.2.2, dst: "203.0.113.20:443", expect: allow, rule: r, dns_names: [a.example.com]}
)";

TEST(LoaderFuzz, RandomBytesNeverCrash) {
  std::mt19937 rng(1);
  for (int i = 0; i < 3000; ++i) {
    std::string bytes(rng() % 300, '\0');
    for (auto& b : bytes) b = static_cast<char>(rng());
    auto r = load_policy_sources({{"f.yaml", bytes}});
    EXPECT_TRUE(!r.errors.empty());  // no Settings in noise
    EXPECT_FALSE(r.policy);
  }
}

TEST(LoaderFuzz, MutatedPoliciesNeverCrash) {
  {
    auto r = load_policy_sources({{"f.yaml", kSeed}});
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  }
  std::mt19937 rng(2);
  const std::string alphabet = "{}[]:,-*#&!|>'\"\\\n\t %/.0123456789abcdefkindRulegex:builtin";
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string s = kSeed;
    for (int m = 0, n = 1 + static_cast<int>(rng() % 4); m < n; ++m) {
      const std::size_t pos = rng() % (s.size() + 1);
      switch (rng() % 4) {
        case 0:
          s.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 1:
          if (pos < s.size()) s.erase(pos, 1 + rng() % 8);
          break;
        case 2:
          if (pos < s.size()) s[pos] = static_cast<char>(rng());
          break;
        default: {  // duplicate a slice
          const std::size_t from = rng() % s.size();
          s.insert(pos, s.substr(from, rng() % 40));
        }
      }
    }
    auto r = load_policy_sources({{"f.yaml", s}});
    // Either a policy and no errors, or errors and no policy; every error names the file.
    EXPECT_EQ(r.errors.empty(), r.policy != nullptr);
    for (const auto& e : r.errors) {
      const std::string line = e.to_string();
      EXPECT_TRUE(line.starts_with("f.yaml:") || line.starts_with(".: ")) << line;
    }
    if (r.policy) {
      ConnectionFacts f{*base::IpAddress::parse("192.0.2.2"),
                        *base::IpAddress::parse("203.0.113.20"),
                        443,
                        nullptr,
                        {},
                        "api.example.com",
                        NameVerification::mismatch};
      (void)r.policy->evaluate(f);
      (void)r.policy->may_depend_on_name(f);
      ++accepted;
    } else {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(accepted, 100);
}

// yaml-cpp 0.7's LoadAll never returns on a lone ',' (it emits empty documents until memory
// runs out) and on some invalid UTF-8; the loader must stop both with a positioned error.
TEST(LoaderFuzz, InputsThatHangYamlCppAreErrors) {
  struct Case {
    std::string bytes;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {",",
            "f.yaml:1:1: error: invalid YAML: the YAML parser stopped advancing here (invalid "
            "input)"},
           {"kind: Settings\n---\n,\n",
            "f.yaml:3:1: error: invalid YAML: the YAML parser stopped advancing here (invalid "
            "input)"},
           {std::string(",\xf8J|\xd5\x8fg\x18\x10\xfc", 10),
            "f.yaml:1:2: error: invalid YAML: byte 0xf8 is not UTF-8 (YAML files are UTF-8 text)"},
           {"kind: Settings\nx: \x01\n",
            "f.yaml:2:4: error: invalid YAML: control character U+0001 is not allowed in YAML"},
           {"a: \xc3\n",
            "f.yaml:1:4: error: invalid YAML: invalid UTF-8 sequence (YAML files are UTF-8 text)"},
           {"a: \xed\xa0\x80\n",
            "f.yaml:1:4: error: invalid YAML: invalid UTF-8 sequence (YAML files are UTF-8 text)"},
       }) {
    auto r = load_policy_sources({{"f.yaml", c.bytes}});
    ASSERT_FALSE(r.errors.empty());
    EXPECT_EQ(r.errors[0].to_string(), c.expected);
  }
  // UTF-8 text itself is fine.
  auto ok = load_policy_sources({{"f.yaml", "# caf\xc3\xa9 \xe2\x9c\x93\nkind: Settings\n"}});
  EXPECT_TRUE(ok.errors.empty()) << ok.errors[0].to_string();
}

TEST(LoaderFuzz, RandomTextNeverHangs) {
  std::mt19937 rng(3);
  const std::string alphabet = "{}[]:,-?*#&!|>'\"\\\n %/.0123456789abc@`";
  for (int i = 0; i < 5000; ++i) {
    std::string s(rng() % 40, ' ');
    for (auto& ch : s) ch = alphabet[rng() % alphabet.size()];
    auto r = load_policy_sources({{"f.yaml", s}});
    EXPECT_FALSE(r.policy);
  }
}

TEST(LoaderFuzz, DeepNestingIsAnErrorNotACrash) {
  for (const std::string& s : {std::string(100000, '['), std::string(50000, '{'),
                               std::string("a: ") + std::string(20000, '[')}) {
    auto r = load_policy_sources({{"f.yaml", s}});
    EXPECT_FALSE(r.errors.empty());
  }
}

}  // namespace
}  // namespace egress::policy
