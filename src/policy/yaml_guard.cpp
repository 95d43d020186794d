#include "policy/yaml_guard.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <sstream>

namespace egress::policy::yaml {

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

struct Runaway {};

// Counts events; throws Runaway when there are more than the input can encode.
class Counter : public YAML::EventHandler {
 public:
  Counter(std::size_t max_docs, std::size_t max_events)
      : max_docs_(max_docs), max_events_(max_events) {}
  YAML::Mark last;

  void OnDocumentStart(const YAML::Mark& m) override {
    last = m;
    if (++docs_ > max_docs_) throw Runaway{};
    bump();
  }
  void OnDocumentEnd() override { bump(); }
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { at(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { at(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    at(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    at(m);
  }
  void OnSequenceEnd() override { bump(); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    at(m);
  }
  void OnMapEnd() override { bump(); }

 private:
  void at(const YAML::Mark& m) {
    last = m;
    bump();
  }
  void bump() {
    if (++events_ > max_events_) throw Runaway{};
  }
  std::size_t max_docs_;
  std::size_t max_events_;
  std::size_t docs_ = 0;
  std::size_t events_ = 0;
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
                         "byte " + hex_byte(b) + " is not UTF-8 (policy files are UTF-8 text)"};
    }
    if (i + len > s.size()) {
      return TextProblem{line, column, "truncated UTF-8 sequence (policy files are UTF-8 text)"};
    }
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) {
        return TextProblem{line, column, "invalid UTF-8 sequence (policy files are UTF-8 text)"};
      }
      cp = (cp << 6) | (c & 0x3F);
    }
    const bool overlong =
        (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return TextProblem{line, column, "invalid UTF-8 sequence (policy files are UTF-8 text)"};
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
  Counter counter(bytes.size() + 2, 4 * bytes.size() + 16);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(counter)) {
    }
  } catch (const Runaway&) {
    return TextProblem{counter.last.line + 1, counter.last.column + 1,
                       "the YAML parser stopped advancing here (invalid input)"};
  } catch (const std::exception&) {
    // A parse error: YAML::LoadAll reports it with its position.
  }
  return std::nullopt;
}

}  // namespace egress::policy::yaml
