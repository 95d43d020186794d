#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace egress::peek {

/// peek.max_bytes' default (issue 19): post-quantum key shares make 2-3 KiB ClientHellos normal.
inline constexpr std::size_t kDefaultMaxBytes = 16 * 1024;

/// A reader's verdict on the bytes seen so far (a tri-state, as Beast's is_tls_client_hello).
enum class PeekStatus : std::uint8_t {
  need_more,  ///< nothing is wrong yet; call again with more bytes
  done,       ///< the name (or its absence) is known; later bytes change nothing
  invalid,    ///< the bytes cannot be what they should be; the detail says why
};

/// "need_more" | "done" | "invalid"
constexpr std::string_view to_string(PeekStatus s) noexcept {
  return s == PeekStatus::need_more ? "need_more" : s == PeekStatus::done ? "done" : "invalid";
}

}  // namespace egress::peek
