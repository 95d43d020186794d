#include "peek/http_host_reader.hpp"

namespace egress::peek {

const HttpHostResult& HttpHostReader::read(std::string_view prefix) {
  if (result_.status != PeekStatus::need_more) return result_;
  // Nothing of a head is consumed before the head is whole, so the prefix is always the input.
  const HttpStreamStep step = stream_.next(prefix);
  switch (step.event) {
    case HttpStreamEvent::need_more:
      break;
    case HttpStreamEvent::request:
    case HttpStreamEvent::opaque:
      result_.status = PeekStatus::done;
      result_.host = stream_.host();
      result_.head_length = stream_.head_length();
      break;
    case HttpStreamEvent::invalid:
      result_.status = PeekStatus::invalid;
      result_.detail = stream_.detail();
      break;
  }
  return result_;
}

HttpHostResult read_http_host(std::string_view bytes, std::size_t max_bytes) {
  HttpHostReader reader(max_bytes);
  return reader.read(bytes);
}

}  // namespace egress::peek
