#include "common/pdu_header.h"

#include <gtest/gtest.h>

#include <array>

namespace ttlogin::common {
namespace {

TEST(PduHeaderTest, EncodesBigEndianAtTheDocumentedOffsets) {
  PduHeader h;
  h.length = 0x01020304;
  h.version = 1;
  h.flag = 0;
  h.service_id = 0x0007;
  h.command_id = 0x070b;
  h.seq_num = 0xbeef;
  h.reserved = 0;
  std::array<std::uint8_t, kPduHeaderSize> bytes{};
  EncodePduHeader(h, bytes);
  const std::array<std::uint8_t, kPduHeaderSize> expected = {0x01, 0x02, 0x03, 0x04, 0x00, 0x01,
                                                             0x00, 0x00, 0x00, 0x07, 0x07, 0x0b,
                                                             0xbe, 0xef, 0x00, 0x00};
  EXPECT_EQ(bytes, expected);
}

TEST(PduHeaderTest, RoundTripsEveryField) {
  PduHeader h{0xfffffff0, 0xfffe, 0x1234, 0xabcd, 0x0102, 0x8001, 0x7fff};
  std::array<std::uint8_t, kPduHeaderSize> bytes{};
  EncodePduHeader(h, bytes);
  EXPECT_EQ(DecodePduHeader(bytes), h);
}

}  // namespace
}  // namespace ttlogin::common
