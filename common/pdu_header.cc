#include "common/pdu_header.h"

namespace ttlogin::common {

void EncodePduHeader(const PduHeader& header, std::span<std::uint8_t, kPduHeaderSize> out) {
  std::uint8_t* p = out.data();
  StoreBe32(p + 0, header.length);
  StoreBe16(p + 4, header.version);
  StoreBe16(p + 6, header.flag);
  StoreBe16(p + 8, header.service_id);
  StoreBe16(p + 10, header.command_id);
  StoreBe16(p + 12, header.seq_num);
  StoreBe16(p + 14, header.reserved);
}

PduHeader DecodePduHeader(std::span<const std::uint8_t, kPduHeaderSize> in) {
  const std::uint8_t* p = in.data();
  PduHeader h;
  h.length = LoadBe32(p + 0);
  h.version = LoadBe16(p + 4);
  h.flag = LoadBe16(p + 6);
  h.service_id = LoadBe16(p + 8);
  h.command_id = LoadBe16(p + 10);
  h.seq_num = LoadBe16(p + 12);
  h.reserved = LoadBe16(p + 14);
  return h;
}

}  // namespace ttlogin::common
