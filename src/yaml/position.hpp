#pragma once

#include <string>

namespace egress::yaml {

/// Where something is written in a YAML file: 1-based line and column (0: not tied to one).
struct Position {
  std::string file;
  int line = 0;
  int column = 0;
};

}  // namespace egress::yaml
