#include "ctl/replay_report.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "clock/rfc3339.hpp"

namespace egress::ctl {
namespace {

ReplayReport sample() {
  ReplayReport r;
  r.verified = true;
  r.totals.records = 10;
  r.totals.decisions = 9;
  r.totals.tighten = 2;
  r.totals.widen = 1;
  r.totals.indeterminate = 1;
  r.totals.unchanged = 5;
  ChangeTable t(10);
  const auto ts = *clock::parse_rfc3339("2026-05-01T00:00:00Z");
  t.add(ChangeKind::tighten, "spiffe://a/b", "[2001:db8::1]:443", "", {"allow", "api"},
        {"deny", ""}, ts, "2026-05-01T00:00:00.000000Z");
  t.add(ChangeKind::tighten, "spiffe://a/b", "[2001:db8::1]:443", "", {"allow", "api"},
        {"deny", ""}, ts, "2026-05-01T00:00:00.000000Z");
  t.add(ChangeKind::widen, "192.0.2.2", "203.0.113.5:443", "a|b.example", {"deny", ""},
        {"allow", "named"}, ts, "2026-05-01T00:00:00.000000Z");
  r.changes = t.groups();
  return r;
}

TEST(ReplayReport, JsonShapeIsTheDocumentedOne) {
  const ReplaySubject s{"proposed", "v2", "", "", 1};
  EXPECT_EQ(
      boost::json::serialize(to_json(sample(), s)),
      R"({"proposed":{"dir":"proposed","version":"v2"},"baseline":null,"verified":true,)"
      R"("totals":{"records":10,"decisions":9,"tighten":2,"widen":1,"rule_changed":0,)"
      R"("indeterminate":1,"unchanged":5,"data_path":0,"outside_window":0},"changes":[)"
      R"({"kind":"tighten","client":"spiffe://a/b","dst":"[2001:db8::1]:443",)"
      R"("old":{"decision":"allow","rule":"api"},"new":{"decision":"deny","rule":null},)"
      R"("count":2,"first_seen":"2026-05-01T00:00:00.000000Z","last_seen":"2026-05-01T00:00:00.000000Z"},)"
      R"({"kind":"widen","client":"192.0.2.2","dst":"203.0.113.5:443","host":"a|b.example",)"
      R"("old":{"decision":"deny","rule":null},"new":{"decision":"allow","rule":"named"},)"
      R"("count":1,"first_seen":"2026-05-01T00:00:00.000000Z","last_seen":"2026-05-01T00:00:00.000000Z"}],)"
      R"("more_groups":0,"more_records":0})");
  const ReplaySubject with_baseline{"proposed", "v2", "main", "v1", 1};
  EXPECT_EQ(boost::json::serialize(to_json(sample(), with_baseline).at("baseline")),
            R"({"dir":"main","version":"v1"})");
}

TEST(ReplayReport, MarkdownEscapesCellsAndListsEachKind) {
  const auto md = to_markdown(sample(), ReplaySubject{"proposed", "v2", "", "", 3});
  EXPECT_NE(md.find("| 2 | 1 | 0 | 1 | 5 |"), std::string::npos) << md;
  EXPECT_NE(md.find("#### tighten (allow -> deny)"), std::string::npos) << md;
  EXPECT_NE(md.find("#### widen (deny -> allow)"), std::string::npos) << md;
  EXPECT_EQ(md.find("#### rule changed"), std::string::npos) << md;
  EXPECT_NE(md.find("`a\\|b.example`"), std::string::npos) << md;  // `|` would end the cell
  EXPECT_NE(md.find("1 record(s) are indeterminate"), std::string::npos) << md;
}

}  // namespace
}  // namespace egress::ctl
