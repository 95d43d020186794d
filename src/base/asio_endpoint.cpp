#include "base/asio_endpoint.hpp"

#include <array>
#include <cstdint>
#include <cstring>

namespace egress::base {

namespace asio = boost::asio;

asio::ip::tcp::endpoint to_asio(const Endpoint& e) noexcept {
  if (e.address.is_v4()) {
    asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), e.address.bytes().data(), 4);
    return {asio::ip::address_v4(b), e.port};
  }
  asio::ip::address_v6::bytes_type b;
  std::memcpy(b.data(), e.address.bytes().data(), 16);
  return {asio::ip::address_v6(b), e.port};
}

Endpoint from_asio(const asio::ip::tcp::endpoint& e) noexcept {
  Endpoint out;
  out.port = e.port();
  if (e.address().is_v4()) {
    out.address = IpAddress::v4(e.address().to_v4().to_bytes());
  } else {
    const auto b = e.address().to_v6().to_bytes();
    std::array<std::uint8_t, 16> a;
    std::memcpy(a.data(), b.data(), 16);
    out.address = IpAddress::v6(a);
  }
  return out;
}

}  // namespace egress::base
