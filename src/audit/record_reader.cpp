#include "audit/record_reader.hpp"

#include "audit/line_reader.hpp"

namespace egress::audit {

struct RecordReader::State {
  State(std::vector<std::string> f, bool v) : files(f), reader(std::move(f)), verify(v) {
    if (verify) checker = std::make_unique<ChainChecker>(files);
  }

  std::vector<std::string> files;
  LineReader reader;
  bool verify;
  std::unique_ptr<ChainChecker> checker;
  VerifyResult empty;
  RecordParser parser;
  RecordFields fields;
  std::uint64_t malformed = 0;
  bool done = false;
};

RecordReader::RecordReader(std::vector<std::string> files, bool verify)
    : state_(std::make_unique<State>(std::move(files), verify)) {}

RecordReader::~RecordReader() = default;

const RecordFields* RecordReader::next() {
  State& s = *state_;
  if (s.done) return nullptr;
  for (std::string_view line; s.reader.next(line);) {
    const RecordFields* record = s.parser.parse(line, s.fields) ? &s.fields : nullptr;
    if (s.verify) {
      if (!s.checker->check(line, record, s.reader.file_index(), s.reader.line_number())) break;
    } else if (record == nullptr) {
      ++s.malformed;
      continue;
    }
    return record;
  }
  s.done = true;
  return nullptr;
}

const std::string& RecordReader::file() const noexcept {
  return state_->reader.file();
}
std::size_t RecordReader::line_number() const noexcept {
  return state_->reader.line_number();
}
const VerifyResult& RecordReader::chain() const noexcept {
  return state_->checker ? state_->checker->result() : state_->empty;
}
const std::string& RecordReader::error() const noexcept {
  return state_->reader.error();
}
std::uint64_t RecordReader::malformed() const noexcept {
  return state_->malformed;
}
bool RecordReader::complete() const noexcept {
  return state_->done && error().empty() && !chain().broken;
}

}  // namespace egress::audit
