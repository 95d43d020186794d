#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace egress::policy::detail {

/// An immutable string-keyed map for the hot path: open addressing with linear probing over
/// (hash, index) slots, so a lookup is one hash, one or two slot reads and one key comparison,
/// and a caller that looks the same key up in several maps hashes it once. Filled through
/// operator[] while compiling, then freeze() builds the table; find() needs freeze().
template <class V>
class FlatStringMap {
 public:
  /// std::hash<std::string_view>: one function for building and looking up.
  static std::size_t hash_of(std::string_view key) noexcept {
    return std::hash<std::string_view>{}(key);
  }

  V& operator[](const std::string& key) {
    auto [it, fresh] = building_.emplace(key, values_.size());
    if (fresh) {
      keys_.push_back(key);
      values_.emplace_back();
    }
    return values_[it->second];
  }

  /// While building: the value of `key`, or nullptr.
  const V* find_building(const std::string& key) const {
    auto it = building_.find(key);
    return it == building_.end() ? nullptr : &values_[it->second];
  }

  void freeze() {
    building_.clear();
    std::size_t cap = 4;
    while (cap < keys_.size() * 2) cap *= 2;
    slots_.assign(cap, Slot{0, kEmpty});
    mask_ = cap - 1;
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      const std::size_t h = hash_of(keys_[i]);
      std::size_t s = h & mask_;
      while (slots_[s].index != kEmpty) s = (s + 1) & mask_;
      slots_[s] = Slot{h, static_cast<std::uint32_t>(i)};
    }
  }

  bool empty() const noexcept { return keys_.empty(); }
  std::size_t size() const noexcept { return keys_.size(); }

  const V* find(std::string_view key, std::size_t hash) const noexcept {
    if (keys_.empty()) return nullptr;
    for (std::size_t s = hash & mask_;; s = (s + 1) & mask_) {
      const Slot& slot = slots_[s];
      if (slot.index == kEmpty) return nullptr;
      if (slot.hash == hash && keys_[slot.index] == key) return &values_[slot.index];
    }
  }
  const V* find(std::string_view key) const noexcept { return find(key, hash_of(key)); }

 private:
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFFu;
  struct Slot {
    std::size_t hash;
    std::uint32_t index;
  };
  std::unordered_map<std::string, std::size_t> building_;
  std::vector<std::string> keys_;
  std::vector<V> values_;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
};

}  // namespace egress::policy::detail
