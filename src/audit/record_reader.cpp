#include "audit/record_reader.hpp"

#include <array>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>
#include <optional>

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
  // A record is a few hundred bytes: its DOM fits `buffer`, reused from line to line by
  // release(); a longer line's blocks come from the heap and go at the next release(). (Over a
  // buffer, not with an initial size: then Boost 1.81 doubles its block size at every release.)
  std::array<unsigned char, 32 * 1024> buffer;
  boost::json::monotonic_resource resource{buffer.data(), buffer.size()};
  unsigned char parser_buffer[4096];
  boost::json::parser parser{boost::json::storage_ptr(), boost::json::parse_options(),
                             parser_buffer, sizeof parser_buffer};
  std::optional<boost::json::value> value;  ///< emplaced: a move-construction keeps its storage
  std::uint64_t malformed = 0;
  bool done = false;
};

RecordReader::RecordReader(std::vector<std::string> files, bool verify)
    : state_(std::make_unique<State>(std::move(files), verify)) {}

RecordReader::~RecordReader() = default;

const boost::json::object* RecordReader::next() {
  State& s = *state_;
  if (s.done) return nullptr;
  for (std::string_view line; s.reader.next(line);) {
    s.value.reset();
    s.resource.release();
    s.parser.reset(boost::json::storage_ptr(&s.resource));
    boost::system::error_code ec;
    s.parser.write(line, ec);
    const boost::json::object* record = nullptr;
    if (!ec) {
      s.value.emplace(s.parser.release());
      if (s.value->is_object()) record = &s.value->get_object();
    }
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
