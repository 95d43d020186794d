#include "core/http_request_gate.hpp"

namespace egress::core {

std::size_t RequestScreen::examine(std::string_view bytes) {
  std::size_t pos = 0;
  while (!violation_) {
    if (opaque_) return bytes.size();
    const peek::HttpStreamStep step = stream_.next(bytes.substr(pos));
    switch (step.event) {
      case peek::HttpStreamEvent::need_more:
        return pos + step.consumed;
      case peek::HttpStreamEvent::request:
        ++heads_;
        if (auto problem = check_.check(stream_.host(), heads_)) {
          violation_ = std::move(*problem);
          // The body bytes before the head may pass; the head may not.
          return pos + step.consumed - stream_.head_length();
        }
        pos += step.consumed;
        break;
      case peek::HttpStreamEvent::opaque:
        // Issue 19 asks for Host checks on HTTP; after CONNECT or a protocol switch the bytes are
        // another protocol, which has no Host to check.
        opaque_ = true;
        return bytes.size();
      case peek::HttpStreamEvent::invalid:
        // A head whose host cannot be read cannot be shown to decide as the first did.
        violation_ = "request " + std::to_string(heads_ + 1) + ": " + stream_.detail();
        return pos + step.consumed;
    }
  }
  return pos;
}

}  // namespace egress::core
