#include "yaml/guard.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <vector>

namespace egress::yaml {

namespace {

std::string hex_byte(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02x", b);
  return buf;
}

std::string code_point(std::uint32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "U+%04X", cp);
  return buf;
}

// Why the event walk stopped early.
struct Runaway {
  std::string message;
};

// Counts events, nesting and the size of each node with its aliases expanded; throws Runaway at
// the first limit crossed.
class Counter : public YAML::EventHandler {
 public:
  Counter(std::size_t max_docs, std::size_t max_events, std::size_t max_expanded)
      : max_docs_(max_docs), max_events_(max_events), max_expanded_(max_expanded) {}
  YAML::Mark last;

  void OnDocumentStart(const YAML::Mark& m) override {
    last = m;
    if (++docs_ > max_docs_) throw stalled();
    open_.clear();
    bump();
  }
  void OnDocumentEnd() override { bump(); }
  void OnNull(const YAML::Mark& m, YAML::anchor_t anchor) override { leaf(m, anchor); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t anchor) override {
    at(m);
    const auto it = sizes_.find(anchor);
    add(it == sizes_.end() ? 1 : it->second);
  }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    leaf(m, anchor);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(m, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(m, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Open {
    YAML::anchor_t anchor;
    std::size_t size;  // this node and everything under it, aliases expanded
  };

  Runaway stalled() const { return {"the YAML parser stopped advancing here (invalid input)"}; }

  void at(const YAML::Mark& m) {
    last = m;
    bump();
  }
  void bump() {
    if (++events_ > max_events_) throw stalled();
  }
  void leaf(const YAML::Mark& m, YAML::anchor_t anchor) {
    at(m);
    if (anchor != YAML::NullAnchor) sizes_[anchor] = 1;
    add(1);
  }
  void open(const YAML::Mark& m, YAML::anchor_t anchor) {
    at(m);
    if (open_.size() >= kMaxDepth) {
      throw Runaway{"collections nested deeper than " + std::to_string(kMaxDepth) + " levels"};
    }
    open_.push_back({anchor, 1});
  }
  void close() {
    bump();
    if (open_.empty()) return;
    const Open done = open_.back();
    open_.pop_back();
    if (done.anchor != YAML::NullAnchor) sizes_[done.anchor] = done.size;
    add(done.size);
  }
  // Adds a finished node to the collection it belongs to. Every node's size is at most its
  // parent's, so checking the parent bounds the whole document.
  void add(std::size_t size) {
    if (open_.empty()) return;
    auto& parent = open_.back().size;
    parent = size > max_expanded_ - parent ? max_expanded_ + 1 : parent + size;
    if (parent > max_expanded_) {
      throw Runaway{"aliases expand this document past " + std::to_string(max_expanded_) +
                    " nodes (an alias bomb?)"};
    }
  }

  std::size_t max_docs_;
  std::size_t max_events_;
  std::size_t max_expanded_;
  std::size_t docs_ = 0;
  std::size_t events_ = 0;
  std::vector<Open> open_;
  std::map<YAML::anchor_t, std::size_t> sizes_;
};

}  // namespace

std::optional<TextProblem> check_text(std::string_view s) {
  int line = 1, column = 1;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = 0;
    std::size_t len = 1;
    if (b < 0x80) {
      cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      cp = b & 0x1F;
      len = 2;
    } else if ((b & 0xF0) == 0xE0) {
      cp = b & 0x0F;
      len = 3;
    } else if ((b & 0xF8) == 0xF0) {
      cp = b & 0x07;
      len = 4;
    } else {
      return TextProblem{line, column,
                         "byte " + hex_byte(b) + " is not UTF-8 (YAML files are UTF-8 text)"};
    }
    if (i + len > s.size()) {
      return TextProblem{line, column, "truncated UTF-8 sequence (YAML files are UTF-8 text)"};
    }
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) {
        return TextProblem{line, column, "invalid UTF-8 sequence (YAML files are UTF-8 text)"};
      }
      cp = (cp << 6) | (c & 0x3F);
    }
    const bool overlong =
        (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return TextProblem{line, column, "invalid UTF-8 sequence (YAML files are UTF-8 text)"};
    }
    // YAML 1.2 c-printable.
    const bool printable = cp == 0x09 || cp == 0x0A || cp == 0x0D || (cp >= 0x20 && cp <= 0x7E) ||
                           cp == 0x85 || (cp >= 0xA0 && cp <= 0xD7FF) ||
                           (cp >= 0xE000 && cp <= 0xFFFD) || cp >= 0x10000;
    if (!printable) {
      return TextProblem{line, column,
                         "control character " + code_point(cp) + " is not allowed in YAML"};
    }
    if (cp == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += len;
  }
  return std::nullopt;
}

std::optional<TextProblem> check_progress(const std::string& bytes) {
  std::istringstream in(bytes);
  // A document needs at least "---\n" or one character; an event at least one byte, except a
  // few implicit ones (an empty value, a document's end): 4 per byte is generous.
  Counter counter(bytes.size() + 2, 4 * bytes.size() + 16, kMaxExpandedNodes + 10 * bytes.size());
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(counter)) {
    }
  } catch (Runaway& r) {
    return TextProblem{counter.last.line + 1, counter.last.column + 1, std::move(r.message)};
  } catch (const std::exception&) {
    // A parse error: YAML::LoadAll reports it with its position.
  }
  return std::nullopt;
}

std::optional<TextProblem> check(const std::string& bytes) {
  if (auto p = check_text(bytes)) return p;
  return check_progress(bytes);
}

}  // namespace egress::yaml
