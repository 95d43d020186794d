#include "resolve/answer.hpp"

namespace egress::resolve {

std::string_view to_string(Answer::Status status) noexcept {
  switch (status) {
    case Answer::Status::ok:
      return "ok";
    case Answer::Status::no_data:
      return "no_data";
    case Answer::Status::nxdomain:
      return "nxdomain";
    case Answer::Status::servfail:
      return "servfail";
    case Answer::Status::refused:
      return "refused";
    case Answer::Status::unreachable:
      return "unreachable";
    case Answer::Status::timeout:
      return "timeout";
    case Answer::Status::error:
      return "error";
  }
  return "error";
}

bool is_authoritative_negative(Answer::Status status) noexcept {
  return status == Answer::Status::nxdomain || status == Answer::Status::no_data;
}

}  // namespace egress::resolve
