#include "audit/verify.hpp"

#include <boost/json/parse.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "audit/chain.hpp"

namespace egress::audit {

const char* to_string(BreakKind kind) noexcept {
  switch (kind) {
    case BreakKind::missing:
      return "missing";
    case BreakKind::edited:
      return "edited";
    case BreakKind::reordered:
      return "reordered";
    case BreakKind::malformed:
      return "malformed";
    case BreakKind::restarted:
      return "restarted";
  }
  return "unknown";
}

namespace {

struct Position {
  std::string file;
  std::size_t line = 0;
  std::string where() const { return file + ":" + std::to_string(line); }
};

struct Parsed {
  std::uint64_t seq = 0;
  std::string prev;
};

std::optional<Parsed> parse_chain_fields(const std::string& line) {
  boost::system::error_code ec;
  const auto value = boost::json::parse(line, ec);
  if (ec || !value.is_object()) return std::nullopt;
  const auto& obj = value.get_object();
  const auto* seq = obj.if_contains("seq");
  const auto* prev = obj.if_contains("prev");
  if (seq == nullptr || prev == nullptr || !prev->is_string()) return std::nullopt;
  Parsed p;
  if (seq->is_uint64()) {
    p.seq = seq->get_uint64();
  } else if (seq->is_int64() && seq->get_int64() > 0) {
    p.seq = static_cast<std::uint64_t>(seq->get_int64());
  } else {
    return std::nullopt;
  }
  p.prev = std::string(prev->get_string());
  return p;
}

// Reads every line of every file in order, calling fn(line, position) until it returns false.
// Returns an error message when a file cannot be opened.
template <typename Fn>
std::string for_each_line(const std::vector<std::string>& files, std::size_t first_file,
                          std::size_t first_line, Fn&& fn) {
  for (std::size_t f = first_file; f < files.size(); ++f) {
    std::ifstream in(files[f], std::ios::binary);
    if (!in) return "cannot open " + files[f] + ": " + std::strerror(errno);
    Position pos{files[f], 0};
    for (std::string line; std::getline(in, line);) {
      ++pos.line;
      if (f == first_file && pos.line < first_line) continue;
      if (!fn(line, pos)) return {};
    }
  }
  return {};
}

// Where does `seq` appear at or after (file_index, line)? Used to tell a moved line from a
// deleted one without holding the whole input in memory.
std::optional<Position> find_seq_after(const std::vector<std::string>& files,
                                       std::size_t file_index, std::size_t line,
                                       std::uint64_t seq) {
  std::optional<Position> found;
  for_each_line(files, file_index, line, [&](const std::string& text, const Position& pos) {
    if (const auto p = parse_chain_fields(text); p && p->seq == seq) {
      found = pos;
      return false;
    }
    return true;
  });
  return found;
}

// The first record at or after (file_index, line), if any.
std::optional<Parsed> next_record(const std::vector<std::string>& files, std::size_t file_index,
                                  std::size_t line) {
  std::optional<Parsed> found;
  for_each_line(files, file_index, line, [&](const std::string& text, const Position&) {
    found = parse_chain_fields(text);
    return false;
  });
  return found;
}

}  // namespace

VerifyResult verify_chain(const std::vector<std::string>& files) {
  VerifyResult result;
  LineHasher hasher;
  bool have_previous = false;
  Parsed previous;
  std::string previous_hash;
  Position previous_pos;
  std::size_t file_index = 0;

  const auto fail = [&](BreakKind kind, std::uint64_t seq, const Position& pos,
                        std::string message) {
    result.broken = ChainBreak{kind, seq, pos.file, pos.line, std::move(message)};
    return false;
  };

  for (file_index = 0; file_index < files.size() && !result.broken; ++file_index) {
    std::ifstream in(files[file_index], std::ios::binary);
    if (!in) {
      result.error = "cannot open " + files[file_index] + ": " + std::strerror(errno);
      return result;
    }
    Position pos{files[file_index], 0};
    for (std::string line; std::getline(in, line);) {
      ++pos.line;
      const auto rec = parse_chain_fields(line);
      if (!rec) {
        const std::uint64_t expected = have_previous ? previous.seq + 1 : 0;
        fail(BreakKind::malformed, expected, pos,
             pos.where() + ": not an audit record (no valid JSON with seq and prev)" +
                 (have_previous ? "; expected seq " + std::to_string(expected) : ""));
        break;
      }
      const std::string hash = hasher.hex(line);
      if (!have_previous) {
        if (rec->prev == kGenesisHash && rec->seq != 1) {
          fail(BreakKind::missing, 1, pos,
               pos.where() + ": the chain starts at seq " + std::to_string(rec->seq) +
                   " with the genesis prev; seq 1.." + std::to_string(rec->seq - 1) +
                   " are missing");
          break;
        }
        result.first_seq = rec->seq;
        result.continues_earlier = rec->prev != kGenesisHash;
      } else if (rec->seq == previous.seq + 1) {
        if (rec->prev != previous_hash) {
          // Editing seq N changes its hash, so N+1's prev stops matching. Editing N+1's own
          // prev also changes N+1's hash, so N+2's prev stops matching too: look one ahead.
          const auto next = next_record(files, file_index, pos.line + 1);
          if (next && next->prev != hash) {
            fail(BreakKind::edited, rec->seq, pos,
                 pos.where() + ": seq " + std::to_string(rec->seq) +
                     " was edited: its prev is not the SHA-256 of seq " +
                     std::to_string(previous.seq) + " (" + previous_pos.where() +
                     ") and its own SHA-256 is not the prev of the next record");
          } else {
            fail(BreakKind::edited, previous.seq, previous_pos,
                 previous_pos.where() + ": seq " + std::to_string(previous.seq) +
                     " was edited: its SHA-256 is not the prev recorded by seq " +
                     std::to_string(rec->seq) + " (" + pos.where() + ")");
          }
          break;
        }
      } else if (rec->seq == 1 && rec->prev == kGenesisHash) {
        fail(BreakKind::restarted, 1, pos,
             pos.where() + ": a new chain starts (seq 1) after seq " +
                 std::to_string(previous.seq) + " (" + previous_pos.where() +
                 "); the file before it is not its predecessor, or the log was recreated");
        break;
      } else if (rec->seq > previous.seq + 1) {
        const std::uint64_t expected = previous.seq + 1;
        if (rec->prev == previous_hash) {
          fail(BreakKind::edited, rec->seq, pos,
               pos.where() + ": seq " + std::to_string(rec->seq) + " follows seq " +
                   std::to_string(previous.seq) +
                   " by hash but not by number: its seq was edited (expected " +
                   std::to_string(expected) + ")");
        } else if (const auto later = find_seq_after(files, file_index, pos.line + 1, expected)) {
          fail(BreakKind::reordered, expected, pos,
               pos.where() + ": seq " + std::to_string(rec->seq) + " comes where seq " +
                   std::to_string(expected) + " belongs; seq " + std::to_string(expected) +
                   " appears later at " + later->where() + " (lines reordered)");
        } else {
          const std::string range = rec->seq - 1 == expected
                                        ? "seq " + std::to_string(expected) + " is"
                                        : "seq " + std::to_string(expected) + ".." +
                                              std::to_string(rec->seq - 1) + " are";
          fail(BreakKind::missing, expected, pos,
               pos.where() + ": " + range + " missing (between " + previous_pos.where() +
                   " and this line)");
        }
        break;
      } else {
        const bool duplicate = rec->seq == previous.seq && hash == previous_hash;
        fail(BreakKind::reordered, rec->seq, pos,
             pos.where() + ": seq " + std::to_string(rec->seq) + " comes after seq " +
                 std::to_string(previous.seq) + " (" + previous_pos.where() + ")" +
                 (duplicate ? ": the line is duplicated" : ": lines reordered"));
        break;
      }
      have_previous = true;
      previous = *rec;
      previous_hash = hash;
      previous_pos = pos;
      ++result.records;
      result.last_seq = rec->seq;
      result.last_hash = hash;
    }
  }
  return result;
}

}  // namespace egress::audit
