// The only file that includes the generated build_commit.hpp: a new commit recompiles it alone.
#include "build_commit.hpp"
#include "version.hpp"

namespace egress {

const char* build_commit() noexcept {
  return EGRESS_BUILD_COMMIT;
}

}  // namespace egress
