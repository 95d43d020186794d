#pragma once

#include <memory>

#include "audit/audit_log.hpp"
#include "audit/chain.hpp"
#include "audit/sink.hpp"

namespace egress::audit {

/// Starts a writer thread over an already opened sink whose chain stands at `start` (the seam
/// open_audit_log uses, and tests use with a fake sink).
std::unique_ptr<AuditLog> start_audit_log(const Options& options, std::unique_ptr<Sink> sink,
                                          ChainState start);

/// Who may call Sink::write.
enum class WriteMode {
  writer_thread,     ///< only the writer thread (any sink: pipes, FIFOs, stdout)
  caller_when_idle,  ///< also submit(), when the writer thread is idle (regular files only)
};

/// As above, with the write mode. With caller_when_idle, a submit() that finds the writer idle
/// (asleep, nothing pending, at most a short queue) encodes and writes the queued records and its
/// own on the calling thread, in submission order, and runs their callbacks there, inside
/// submit(), before it returns; otherwise the record is queued for the writer thread. The chain,
/// the bound, the failure and retry behaviour are the same either way. open_audit_log chooses
/// caller_when_idle when the audit path is a regular file.
std::unique_ptr<AuditLog> start_audit_log(const Options& options, std::unique_ptr<Sink> sink,
                                          ChainState start, WriteMode mode);

}  // namespace egress::audit
