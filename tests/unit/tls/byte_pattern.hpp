#pragma once

// Test payloads that show a lost, repeated or reordered chunk.

#include <cstddef>
#include <cstdint>
#include <string>

namespace egress::test {

/// `size` bytes of xorshift32 from `seed`: no short period a lost or repeated chunk could hide in.
inline std::string byte_pattern(std::size_t size, std::uint32_t seed = 2463534242u) {
  std::string data(size, '\0');
  std::uint32_t x = seed;
  for (char& c : data) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return data;
}

}  // namespace egress::test
