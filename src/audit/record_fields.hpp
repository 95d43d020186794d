#pragma once

// The fields of an audit line that the chain and `policy replay` read, taken in one pass of a
// streaming JSON parser (no document is built): the hash chain's seq and prev, the event and its
// time, and a connection.decision's facts and outcome. Everything else in the line is skipped.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace egress::audit {

/// What parse_record() found. Strings are empty when absent; reused from line to line (the
/// strings keep their storage).
struct RecordFields {
  bool has_seq = false;  ///< `seq` is an integer >= 1 (else the chain cannot use the line)
  std::uint64_t seq = 0;
  bool has_prev = false;  ///< `prev` is a string
  std::string prev;
  std::string event;
  std::string ts;
  struct Endpoint {
    bool given = false;    ///< the key is there (whatever its value)
    bool present = false;  ///< the field is an object
    bool has_port = false;
    std::string ip;
    std::int64_t port = -1;
  };
  Endpoint src;
  Endpoint dst;
  bool has_identity = false;  ///< `identity` is an object
  std::string spiffe_id;
  std::vector<std::string> uri_sans;
  std::vector<std::string> dns_sans;
  std::string cn;
  std::string fingerprint_sha256;
  bool bad_identity = false;  ///< uri_sans / dns_sans hold something other than strings
  bool has_name_source = false;
  std::string host;
  std::string name_verified;
  bool has_dns_answers = false;
  bool bad_dns_answers = false;  ///< not a list of strings
  std::vector<std::string> dns_answers;
  std::string decision;
  std::string reason;
  std::string rule;
  std::string shadow_decision;
  std::string shadow_rule;
};

/// Reads the fields of one line. Reusable: one per thread. Not thread-safe.
class RecordParser {
 public:
  RecordParser();
  ~RecordParser();
  RecordParser(const RecordParser&) = delete;
  RecordParser& operator=(const RecordParser&) = delete;

  /// Fills `out` from `line`. False when the line is not one JSON object (then `out` is
  /// meaningless).
  bool parse(std::string_view line, RecordFields& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace egress::audit
