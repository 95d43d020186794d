#include "yaml/reader.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace egress::yaml {
namespace {

std::vector<std::string> texts(const std::vector<base::Diagnostic>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) out.push_back(d.to_string());
  return out;
}

YAML::Node load_one(Reader& r, const std::string& text) {
  auto docs = r.load_all(text);
  EXPECT_TRUE(docs && docs->size() == 1);
  return docs && !docs->empty() ? (*docs)[0] : YAML::Node();
}

TEST(Reader, UnknownKeySuggestsTheClosestAllowedOne) {
  std::vector<base::Diagnostic> errors;
  Reader r("c.yaml", errors);
  const auto root = load_one(r, "adress: x\nnmae: y\ncolour: z\nname: w\nname: v\n");
  Map m(r, root, "listeners[0]", "a listener", {"name", "address", "destination"});
  EXPECT_TRUE(m.ok());
  EXPECT_EQ(m.find("name")->Scalar(), "w");  // the first one
  EXPECT_EQ(texts(errors),
            (std::vector<std::string>{
                "c.yaml:1:1: error: listeners[0].adress: unknown key \"adress\" in a listener, did "
                "you mean \"address\"? (allowed: name, address, destination)",
                "c.yaml:2:1: error: listeners[0].nmae: unknown key \"nmae\" in a listener, did you "
                "mean \"name\"? (allowed: name, address, destination)",
                "c.yaml:3:1: error: listeners[0].colour: unknown key \"colour\" in a listener "
                "(allowed: name, address, destination)",
                "c.yaml:5:1: error: listeners[0].name: duplicate key \"name\"",
            }));
}

TEST(Reader, Closest) {
  EXPECT_EQ(closest("drain_timeot", {"workers", "drain_timeout"}), "drain_timeout");
  EXPECT_EQ(closest("defualt", {"kind", "default", "mode"}), "default");
  EXPECT_EQ(closest("port", {"cidrs", "ports"}), "ports");
  EXPECT_EQ(closest("colour", {"id", "action", "mode"}), "");
  EXPECT_EQ(closest("x", {"y"}), "y");  // one edit is always close enough
}

TEST(Reader, RequiredKeysAndWrongShapes) {
  std::vector<base::Diagnostic> errors;
  Reader r("c.yaml", errors);
  const auto root = load_one(r, "policy: [a]\nlimits: {n: [1]}\n");
  Map top(r, root, "", "the config", {"policy", "limits", "listeners"});
  top.require("listeners");
  Map policy(r, *top.find("policy"), "policy", "policy", {"dir"});
  EXPECT_FALSE(policy.ok());
  EXPECT_FALSE(policy.require("dir"));  // nothing more said about a mapping that is not one
  Map limits(r, *top.find("limits"), "limits", "limits", {"n"});
  r.integer<std::uint32_t>(*limits.find("n"), limits.path("n"), 0, 10);
  EXPECT_EQ(texts(errors),
            (std::vector<std::string>{
                "c.yaml:1:1: error: listeners: missing required key \"listeners\" in the config",
                "c.yaml:1:9: error: policy: expected a mapping, found a list",
                "c.yaml:2:13: error: limits.n: expected an integer, found a list",
            }));
}

TEST(Reader, TypedGettersReportWithPositions) {
  std::vector<base::Diagnostic> errors;
  Reader r("c.yaml", errors);
  const auto root = load_one(r, "a: 12\nb: -1\nc: 99\nd: maybe\ne: TRUE\nf: tproxy\ng: dnat\n");
  EXPECT_EQ(r.integer<unsigned>(root["a"], "a", 1, 20), 12u);
  EXPECT_FALSE(r.integer<unsigned>(root["b"], "b", 1, 20));
  EXPECT_FALSE(r.integer<unsigned>(root["c"], "c", 1, 20));
  EXPECT_FALSE(r.boolean(root["d"], "d"));
  EXPECT_EQ(r.boolean(root["e"], "e"), true);
  enum class M { a, b };
  EXPECT_EQ(r.one_of<M>(root["f"], "f", {{"original_dst", M::a}, {"tproxy", M::b}}), M::b);
  EXPECT_FALSE(r.one_of<M>(root["g"], "g", {{"original_dst", M::a}, {"tproxy", M::b}}));
  EXPECT_EQ(texts(errors), (std::vector<std::string>{
                               "c.yaml:2:4: error: b: \"-1\" is not an integer",
                               "c.yaml:3:4: error: c: must be between 1 and 20, got 99",
                               "c.yaml:4:4: error: d: expected true or false, found \"maybe\"",
                               "c.yaml:7:4: error: g: \"dnat\" is not one of original_dst | tproxy",
                           }));
}

TEST(Reader, InvalidYamlIsOneErrorWithThePosition) {
  std::vector<base::Diagnostic> errors;
  Reader r("c.yaml", errors);
  EXPECT_FALSE(r.load_all("a: [1\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].file, "c.yaml");
  EXPECT_GT(errors[0].line, 0);
  EXPECT_EQ(errors[0].message.rfind("invalid YAML: ", 0), 0u) << errors[0].message;
  // The guard's findings come out the same way.
  EXPECT_FALSE(r.load_all("a: " + std::string(200, '[')));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[1].line, 1);
  EXPECT_EQ(errors[1].message, "invalid YAML: collections nested deeper than 64 levels");
}

}  // namespace
}  // namespace egress::yaml
