#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace egress::policy::detail {

/// An immutable string-keyed map for the hot path: open addressing with linear probing over
/// slots that hold the value, part of the key's hash and where the key's bytes are in one
/// arena. A lookup is one hash, one or two slot reads and one key comparison: two places in
/// memory, the slot and the key's bytes. A caller that looks the same key up in several maps
/// hashes it once. Filled through operator[] while compiling, then freeze() builds the table;
/// find() finds nothing before freeze().
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
      ++size_;
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
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    arena_.clear();
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      const std::size_t h = hash_of(keys_[i]);
      std::size_t s = h & mask_;
      while (slots_[s].key_at != kEmpty) s = (s + 1) & mask_;
      if (arena_.size() + keys_[i].size() >= kEmpty)
        throw std::length_error("policy: string keys exceed 4 GiB");
      slots_[s] = Slot{tag_of(h), static_cast<std::uint32_t>(arena_.size()),
                       static_cast<std::uint32_t>(keys_[i].size()), std::move(values_[i])};
      arena_ += keys_[i];
    }
    keys_.clear();
    keys_.shrink_to_fit();
    values_.clear();
    values_.shrink_to_fit();
  }

  bool empty() const noexcept { return size() == 0; }
  std::size_t size() const noexcept { return size_; }

  const V* find(std::string_view key, std::size_t hash) const noexcept {
    if (slots_.empty()) return nullptr;  // not frozen yet
    const std::uint32_t tag = tag_of(hash);
    for (std::size_t s = hash & mask_;; s = (s + 1) & mask_) {
      const Slot& slot = slots_[s];
      if (slot.key_at == kEmpty) return nullptr;
      if (slot.tag == tag && slot.key_size == key.size() &&
          std::string_view(arena_.data() + slot.key_at, slot.key_size) == key) {
        return &slot.value;
      }
    }
  }
  const V* find(std::string_view key) const noexcept { return find(key, hash_of(key)); }

 private:
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFFu;
  /// The hash's high half: the low bits chose the slot, these tell most other keys apart.
  static std::uint32_t tag_of(std::size_t hash) noexcept {
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(hash) >> 32);
  }
  struct Slot {
    std::uint32_t tag = 0;
    std::uint32_t key_at = kEmpty;  ///< the key's bytes: arena_[key_at, key_at + key_size)
    std::uint32_t key_size = 0;
    V value{};
  };
  std::unordered_map<std::string, std::size_t> building_;
  std::vector<std::string> keys_;  ///< until freeze()
  std::vector<V> values_;          ///< until freeze()
  std::vector<Slot> slots_;
  std::string arena_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;  ///< number of keys
};

}  // namespace egress::policy::detail
