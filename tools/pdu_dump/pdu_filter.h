// PduFilter: which PDUs the operator asked to see (`--filter`). Terms of one kind are alternatives;
// terms of different kinds must all hold, e.g. `command=CID_OTHER_HEARTBEAT,0x070b port=8100`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/pdu_header.h"
#include "tools/pdu_dump/stream_consumer.h"

namespace ttlogin::tools::pdu_dump {

class PduFilter {
 public:
  // Adds one `--filter` argument: `service=LIST`, `command=LIST` or `port=LIST`, where LIST is
  // comma-separated numbers (decimal or 0x hex) or names (SID_OTHER or OTHER, CID_...). Returns an
  // error message, empty on success.
  std::string Add(std::string_view expression);

  bool empty() const { return services_.empty() && commands_.empty() && ports_.empty(); }
  bool has_port_terms() const { return !ports_.empty(); }
  bool Matches(const StreamInfo& stream, const common::PduHeader& header) const;

 private:
  std::vector<std::uint16_t> services_;
  std::vector<std::uint16_t> commands_;
  std::vector<std::uint16_t> ports_;
};

// "8100", "0x1fa4" -> number; nullopt when not a number in [0, max].
std::optional<std::uint32_t> ParseNumber(std::string_view text, std::uint32_t max);

}  // namespace ttlogin::tools::pdu_dump
