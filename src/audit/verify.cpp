#include "audit/verify.hpp"

#include "audit/chain.hpp"
#include "audit/line_reader.hpp"

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

// A line of one of the files (the checker's list outlives it): no copy of the name per line.
struct Position {
  const std::string* file = nullptr;
  std::size_t line = 0;
  std::string where() const { return *file + ":" + std::to_string(line); }
};

// Views into the record they were read from.
struct Parsed {
  std::uint64_t seq = 0;
  std::string_view prev;
};

std::optional<Parsed> chain_fields(const RecordFields& f) {
  if (!f.has_seq || !f.has_prev) return std::nullopt;
  return Parsed{f.seq, f.prev};
}

// A line's seq and prev, owning: for the look-ahead that classifies a break.
struct OwnedFields {
  std::uint64_t seq = 0;
  std::string prev;
};

std::optional<OwnedFields> parse_chain_fields(std::string_view line) {
  RecordParser parser;
  RecordFields fields;
  if (!parser.parse(line, fields)) return std::nullopt;
  const auto p = chain_fields(fields);
  if (!p) return std::nullopt;
  return OwnedFields{p->seq, std::string(p->prev)};
}

// Where does `seq` appear at or after (file_index, line)? Used to tell a moved line from a
// deleted one without holding the whole input in memory.
std::optional<Position> find_seq_after(const std::vector<std::string>& files,
                                       std::size_t file_index, std::size_t line,
                                       std::uint64_t seq) {
  LineReader reader(files, file_index, line);
  for (std::string_view text; reader.next(text);) {
    if (const auto p = parse_chain_fields(text); p && p->seq == seq) {
      return Position{&files[reader.file_index()], reader.line_number()};
    }
  }
  return std::nullopt;
}

// The first record at or after (file_index, line), if any.
std::optional<OwnedFields> next_record(const std::vector<std::string>& files,
                                       std::size_t file_index, std::size_t line) {
  LineReader reader(files, file_index, line);
  std::string_view text;
  if (!reader.next(text)) return std::nullopt;
  return parse_chain_fields(text);
}

}  // namespace

struct ChainChecker::State {
  std::vector<std::string> files;
  VerifyResult result;
  LineHasher hasher;
  bool have_previous = false;
  std::uint64_t previous_seq = 0;
  std::array<char, 64> previous_hash{};
  Position previous_pos;
};

ChainChecker::ChainChecker(std::vector<std::string> files) : state_(std::make_unique<State>()) {
  state_->files = std::move(files);
}

ChainChecker::~ChainChecker() = default;

const VerifyResult& ChainChecker::result() const noexcept {
  return state_->result;
}

bool ChainChecker::check(std::string_view line, const RecordFields* record, std::size_t file_index,
                         std::size_t line_number) {
  State& s = *state_;
  VerifyResult& result = s.result;
  if (result.broken) return false;
  const Position pos{&s.files.at(file_index), line_number};
  const auto fail = [&](BreakKind kind, std::uint64_t seq, const Position& where,
                        std::string message) {
    result.broken = ChainBreak{kind, seq, *where.file, where.line, std::move(message)};
    return false;
  };
  const auto rec = record != nullptr ? chain_fields(*record) : std::nullopt;
  if (!rec) {
    const std::uint64_t expected = s.have_previous ? s.previous_seq + 1 : 0;
    return fail(BreakKind::malformed, expected, pos,
                pos.where() + ": not an audit record (no valid JSON with seq and prev)" +
                    (s.have_previous ? "; expected seq " + std::to_string(expected) : ""));
  }
  std::array<char, 64> hash_buf;
  s.hasher.hex(line, hash_buf);
  const std::string_view hash(hash_buf.data(), hash_buf.size());
  const std::string_view previous_hash(s.previous_hash.data(), s.previous_hash.size());
  struct {
    std::uint64_t seq;
  } const previous{s.previous_seq};
  const auto& previous_pos = s.previous_pos;
  const auto& files = s.files;
  if (!s.have_previous) {
    if (rec->prev == kGenesisHash && rec->seq != 1) {
      return fail(BreakKind::missing, 1, pos,
                  pos.where() + ": the chain starts at seq " + std::to_string(rec->seq) +
                      " with the genesis prev; seq 1.." + std::to_string(rec->seq - 1) +
                      " are missing");
    }
    result.first_seq = rec->seq;
    result.continues_earlier = rec->prev != kGenesisHash;
  } else if (rec->seq == previous.seq + 1) {
    if (rec->prev != previous_hash) {
      // Editing seq N changes its hash, so N+1's prev stops matching. Editing N+1's own
      // prev also changes N+1's hash, so N+2's prev stops matching too: look one ahead.
      const auto next = next_record(files, file_index, line_number + 1);
      if (next && next->prev != hash) {
        return fail(BreakKind::edited, rec->seq, pos,
                    pos.where() + ": seq " + std::to_string(rec->seq) +
                        " was edited: its prev is not the SHA-256 of seq " +
                        std::to_string(previous.seq) + " (" + previous_pos.where() +
                        ") and its own SHA-256 is not the prev of the next record");
      }
      return fail(BreakKind::edited, previous.seq, previous_pos,
                  previous_pos.where() + ": seq " + std::to_string(previous.seq) +
                      " was edited: its SHA-256 is not the prev recorded by seq " +
                      std::to_string(rec->seq) + " (" + pos.where() + ")");
    }
  } else if (rec->seq == 1 && rec->prev == kGenesisHash) {
    return fail(BreakKind::restarted, 1, pos,
                pos.where() + ": a new chain starts (seq 1) after seq " +
                    std::to_string(previous.seq) + " (" + previous_pos.where() +
                    "); the file before it is not its predecessor, or the log was recreated");
  } else if (rec->seq > previous.seq + 1) {
    const std::uint64_t expected = previous.seq + 1;
    if (rec->prev == previous_hash) {
      return fail(BreakKind::edited, rec->seq, pos,
                  pos.where() + ": seq " + std::to_string(rec->seq) + " follows seq " +
                      std::to_string(previous.seq) +
                      " by hash but not by number: its seq was edited (expected " +
                      std::to_string(expected) + ")");
    }
    if (const auto later = find_seq_after(files, file_index, line_number + 1, expected)) {
      return fail(BreakKind::reordered, expected, pos,
                  pos.where() + ": seq " + std::to_string(rec->seq) + " comes where seq " +
                      std::to_string(expected) + " belongs; seq " + std::to_string(expected) +
                      " appears later at " + later->where() + " (lines reordered)");
    }
    const std::string range = rec->seq - 1 == expected ? "seq " + std::to_string(expected) + " is"
                                                       : "seq " + std::to_string(expected) + ".." +
                                                             std::to_string(rec->seq - 1) + " are";
    return fail(BreakKind::missing, expected, pos,
                pos.where() + ": " + range + " missing (between " + previous_pos.where() +
                    " and this line)");
  } else {
    const bool duplicate = rec->seq == previous.seq && hash == previous_hash;
    return fail(BreakKind::reordered, rec->seq, pos,
                pos.where() + ": seq " + std::to_string(rec->seq) + " comes after seq " +
                    std::to_string(previous.seq) + " (" + previous_pos.where() + ")" +
                    (duplicate ? ": the line is duplicated" : ": lines reordered"));
  }
  s.have_previous = true;
  s.previous_seq = rec->seq;
  s.previous_hash = hash_buf;
  s.previous_pos = pos;
  ++result.records;
  result.last_seq = rec->seq;
  result.last_hash.assign(hash);
  return true;
}

VerifyResult verify_chain(const std::vector<std::string>& files) {
  ChainChecker checker(files);
  LineReader reader(files);
  RecordParser parser;
  RecordFields fields;
  for (std::string_view line; reader.next(line);) {
    const RecordFields* record = parser.parse(line, fields) ? &fields : nullptr;
    if (!checker.check(line, record, reader.file_index(), reader.line_number())) break;
  }
  VerifyResult result = checker.result();
  if (!reader.error().empty() && !result.broken) result.error = reader.error();
  return result;
}

}  // namespace egress::audit
