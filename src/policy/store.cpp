#include "policy/store.hpp"

#include <exception>

namespace egress::policy {

PolicyStore::PolicyStore(std::filesystem::path dir, PolicyLoader load)
    : dir_(std::move(dir)), load_(std::move(load)) {}

LoadResult PolicyStore::reload() {
  LoadResult r;
  try {
    if (load_) {
      r = load_();
    } else {
      throw std::logic_error("no policy loader");
    }
  } catch (const std::exception& e) {
    base::Diagnostic d;
    d.file = dir_.string();
    d.message = std::string("cannot load the policy: ") + e.what();
    r = LoadResult{};
    r.errors.push_back(std::move(d));
  }
  install(r);
  return r;
}

bool PolicyStore::install(const LoadResult& r) {
  if (!r.errors.empty() || !r.policy) return false;
  current_.store(r.policy);
  return true;
}

std::shared_ptr<const Policy> PolicyStore::current() const noexcept {
  return current_.load();
}

}  // namespace egress::policy
