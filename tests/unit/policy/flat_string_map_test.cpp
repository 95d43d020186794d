#include "policy/flat_string_map.hpp"

#include <gtest/gtest.h>

#include <string>

namespace egress::policy::detail {
namespace {

TEST(FlatStringMap, FindsEveryKeyAndNothingElse) {
  FlatStringMap<int> m;
  EXPECT_EQ(m.find("absent"), nullptr);  // before freeze and empty
  for (int i = 0; i < 5000; ++i) m["spiffe://corp.example/ns/team-" + std::to_string(i)] = i;
  m[""] = -1;  // the empty key is a key
  m.freeze();
  EXPECT_EQ(m.size(), 5001u);
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "spiffe://corp.example/ns/team-" + std::to_string(i);
    const int* v = m.find(key);
    ASSERT_NE(v, nullptr) << key;
    EXPECT_EQ(*v, i);
    EXPECT_EQ(m.find(key, FlatStringMap<int>::hash_of(key)), v);
  }
  ASSERT_NE(m.find(""), nullptr);
  EXPECT_EQ(*m.find(""), -1);
  // A prefix, an extension and a near miss of a key are not keys.
  EXPECT_EQ(m.find("spiffe://corp.example/ns/team-"), nullptr);
  EXPECT_EQ(m.find("spiffe://corp.example/ns/team-12x"), nullptr);
  EXPECT_EQ(m.find("spiffe://corp.example/ns/team-5000"), nullptr);
  EXPECT_EQ(m.find("spiffe://corp.example/ns/Team-1"), nullptr);
}

TEST(FlatStringMap, AKeyLookedUpWithAnotherKeysHashIsNotFound) {
  FlatStringMap<int> m;
  m["a"] = 1;
  m["b"] = 2;
  m.freeze();
  EXPECT_EQ(m.find("a", FlatStringMap<int>::hash_of("b")), nullptr);
}

}  // namespace
}  // namespace egress::policy::detail
