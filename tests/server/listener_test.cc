#include "server/listener.h"

#include <gtest/gtest.h>

namespace revrouter::server {
namespace {

struct AddressRow {
  const char* name;
  const char* text;
  const char* address;  // nullptr: invalid
  unsigned port;
};

class ListenAddressTest : public ::testing::TestWithParam<AddressRow> {};

TEST_P(ListenAddressTest, ParsesHostPort) {
  const AddressRow& row = GetParam();
  auto endpoint = parse_listen_address(row.text);
  if (row.address == nullptr) {
    ASSERT_FALSE(endpoint);
    EXPECT_EQ(endpoint.error().code, "address");
    EXPECT_NE(endpoint.error().message.find(row.text), std::string::npos);
    return;
  }
  ASSERT_TRUE(endpoint) << endpoint.error().message;
  EXPECT_EQ(endpoint->address().to_string(), row.address);
  EXPECT_EQ(endpoint->port(), row.port);
}

INSTANTIATE_TEST_SUITE_P(
    Addresses, ListenAddressTest,
    ::testing::Values(AddressRow{"IstioWebhookPort", "0.0.0.0:15017", "0.0.0.0", 15017},
                      AddressRow{"Loopback", "127.0.0.1:0", "127.0.0.1", 0},
                      AddressRow{"PortOnlyMeansAllIpv4", ":8443", "0.0.0.0", 8443},
                      AddressRow{"BracketedIpv6", "[::1]:443", "::1", 443},
                      AddressRow{"Ipv6Any", "[::]:15017", "::", 15017},
                      AddressRow{"NoPort", "127.0.0.1", nullptr, 0},
                      AddressRow{"PortTooLarge", "127.0.0.1:65536", nullptr, 0},
                      AddressRow{"PortNotANumber", "127.0.0.1:https", nullptr, 0},
                      AddressRow{"HostnameNotAccepted", "localhost:443", nullptr, 0},
                      AddressRow{"EmptyPort", "127.0.0.1:", nullptr, 0}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace revrouter::server
