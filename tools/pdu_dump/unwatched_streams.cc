#include "tools/pdu_dump/unwatched_streams.h"

#include <algorithm>

#include "common/protocol.h"
#include "tools/pdu_dump/pdu_stream_decoder.h"

namespace ttlogin::tools::pdu_dump {

using common::kPduHeaderSize;

bool LooksLikePduStart(std::span<const std::uint8_t, kPduHeaderSize> bytes,
                       std::uint32_t max_pdu_size) {
  if (!IsPlausibleHeader(bytes, max_pdu_size)) return false;
  const common::PduHeader h = common::DecodePduHeader(bytes);
  return common::FindCommand(h.service_id, h.command_id).has_value();
}

std::size_t UnwatchedStreams::KeyHash::operator()(const Key& k) const noexcept {
  const EndpointHash h;
  return h(k.src) * 31 + h(k.dst);
}

UnwatchedStreams::UnwatchedStreams(std::uint32_t max_pdu_size, std::size_t capacity)
    : max_pdu_size_(max_pdu_size), capacity_(std::max<std::size_t>(capacity, 1)) {}

UnwatchedStreams::Map::iterator UnwatchedStreams::Insert(const Key& key) {
  entries_.erase(key);
  std::size_t slot = 0;
  if (ring_.size() < capacity_) {
    slot = ring_.size();
    ring_.push_back(key);
  } else {
    slot = next_slot_;
    // The slot's previous owner is evicted unless it has since been re-inserted elsewhere.
    const auto old = entries_.find(ring_[slot]);
    if (old != entries_.end() && old->second.ring_slot == slot) entries_.erase(old);
    ring_[slot] = key;
  }
  next_slot_ = (slot + 1) % capacity_;
  auto it = entries_.emplace(key, Entry{}).first;
  it->second.ring_slot = slot;
  return it;
}

void UnwatchedStreams::Erase(const Key& key) {
  entries_.erase(key);
}

bool UnwatchedStreams::LinesUp(std::span<const std::uint8_t> payload) const {
  if (payload.size() < kPduHeaderSize) return false;
  if (!LooksLikePduStart(payload.first<kPduHeaderSize>(), max_pdu_size_)) return false;
  const std::size_t length = common::LoadBe32(payload.data());
  if (length == payload.size()) return true;
  // A PDU running past the segment proves nothing: any 16 bytes followed by enough data would.
  if (length + kPduHeaderSize > payload.size()) return false;
  return LooksLikePduStart(payload.subspan(length).first<kPduHeaderSize>(), max_pdu_size_);
}

StreamStart UnwatchedStreams::StartOf(const Entry& e, std::size_t prefix_size) {
  StreamStart start;
  start.syn_seen = e.from_start;
  start.syn_flags = e.syn_flags;
  start.syn_seq = e.syn_seq;
  start.prefix = e.head;
  start.prefix_size = std::min(prefix_size, kPduHeaderSize);
  return start;
}

UnwatchedVerdict UnwatchedStreams::OnSegment(const TcpSegment& s) {
  UnwatchedVerdict verdict;
  const Key key{s.src, s.dst};
  if ((s.flags & kTcpRst) != 0) {
    Erase(key);
    Erase(Key{s.dst, s.src});
    return verdict;
  }
  const bool syn = (s.flags & kTcpSyn) != 0;
  if (!syn && s.payload.empty()) return verdict;  // a bare ACK or FIN: nothing to judge
  auto it = entries_.find(key);
  if (syn && (it == entries_.end() || !it->second.from_start || it->second.syn_seq != s.seq)) {
    it = Insert(key);
    Entry& e = it->second;
    e.from_start = true;
    e.syn_flags = s.flags & (kTcpSyn | kTcpAck);
    e.syn_seq = s.seq;
  }
  if (s.payload.empty()) return verdict;
  if (it == entries_.end()) it = Insert(key);  // the capture began after the connect
  Entry& e = it->second;
  if (e.judged) return verdict;

  if (e.from_start) {
    // Only bytes that continue what was seen count: a reordered or lost first segment leaves the
    // direction unjudged rather than judged on the wrong bytes.
    const std::uint32_t data_seq = syn ? s.seq + 1 : s.seq;
    const auto offset = static_cast<std::int32_t>(data_seq - (e.syn_seq + 1));
    if (offset < 0 || static_cast<std::uint64_t>(offset) > e.contiguous) return verdict;
    const std::uint64_t end = static_cast<std::uint64_t>(offset) + s.payload.size();
    if (end <= e.contiguous) return verdict;
    const std::uint64_t before = e.contiguous;
    for (std::uint64_t pos = before; pos < std::min<std::uint64_t>(end, kPduHeaderSize); ++pos) {
      e.head[pos] = s.payload[pos - static_cast<std::uint64_t>(offset)];
    }
    e.contiguous = end;
    if (e.contiguous < kPduHeaderSize) return verdict;
    e.judged = true;
    if (!LooksLikePduStart(std::span<const std::uint8_t, kPduHeaderSize>(e.head), max_pdu_size_)) {
      return verdict;
    }
    verdict.this_side = StartOf(e, before);
    // The side that sent the bare SYN is the client; the other one listens.
    verdict.port = (e.syn_flags & kTcpAck) != 0 ? s.src.port : s.dst.port;
  } else {
    --e.tries_left;
    if (!LinesUp(s.payload)) {
      if (e.tries_left <= 0) e.judged = true;
      return verdict;
    }
    e.judged = true;
    // Without the SYN there is no telling who listens; services usually sit below the
    // ephemeral range, so the lower port is the better guess.
    verdict.port = std::min(s.src.port, s.dst.port);
  }
  verdict.looks_like_pdu = true;
  const auto other = entries_.find(Key{s.dst, s.src});
  if (other != entries_.end() && other->second.from_start &&
      other->second.contiguous <= kPduHeaderSize) {
    verdict.other_side = StartOf(other->second, other->second.contiguous);
  }
  return verdict;
}

}  // namespace ttlogin::tools::pdu_dump
