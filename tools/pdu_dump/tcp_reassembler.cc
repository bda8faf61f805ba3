#include "tools/pdu_dump/tcp_reassembler.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace ttlogin::tools::pdu_dump {
namespace {

bool EndpointLess(const Endpoint& x, const Endpoint& y) {
  if (x.ipv6 != y.ipv6) return y.ipv6;
  const int c = std::memcmp(x.address.data(), y.address.data(), x.address.size());
  if (c != 0) return c < 0;
  return x.port < y.port;
}

}  // namespace

std::size_t TcpReassembler::KeyHash::operator()(const Key& k) const noexcept {
  const EndpointHash h;
  return h(k.lo) * 31 + h(k.hi);
}

TcpReassembler::Key TcpReassembler::MakeKey(const Endpoint& x, const Endpoint& y) {
  return EndpointLess(x, y) ? Key{x, y} : Key{y, x};
}

TcpReassembler::TcpReassembler(StreamFactory& factory, std::size_t max_out_of_order_bytes)
    : factory_(factory), max_out_of_order_bytes_(max_out_of_order_bytes) {}

TcpReassembler::~TcpReassembler() = default;

void TcpReassembler::StartDirection(Connection& c, int side, const TcpSegment& s, bool from_start) {
  Direction& d = c.dirs[side];
  StreamInfo info;
  info.id = next_stream_id_++;
  info.src = s.src;
  info.dst = s.dst;
  info.src_label = FormatEndpoint(s.src);
  info.dst_label = FormatEndpoint(s.dst);
  info.from_start = from_start;
  d.id = info.id;
  d.consumer = factory_.OpenStream(info);
  ++stats_.streams;
}

void TcpReassembler::OnSegment(const TcpSegment& s, TimestampUs ts) {
  const bool syn = (s.flags & kTcpSyn) != 0;
  const bool fin = (s.flags & kTcpFin) != 0;
  const bool rst = (s.flags & kTcpRst) != 0;
  const bool has_data = !s.payload.empty() || s.missing_payload != 0;
  const Key key = MakeKey(s.src, s.dst);
  auto it = connections_.find(key);
  if (it == connections_.end()) {
    // A bare ACK, FIN or RST of a connection we are not tracking (or just finished) carries
    // nothing to decode; tracking it would only leak an entry per closed connection.
    if (!syn && !has_data) return;
    auto c = std::make_unique<Connection>();
    c->order = next_connection_order_++;
    c->a = s.src;
    c->b = s.dst;
    it = connections_.emplace(key, std::move(c)).first;
    ++stats_.connections;
  }
  Connection& c = *it->second;
  const int side = s.src == c.a ? 0 : 1;
  Direction& d = c.dirs[side];

  if (rst) {
    ReportClose(c, s.src, s.dst, ts);
    for (Direction& each : c.dirs)
      EndDirection(each, ts, "the connection was reset");
    connections_.erase(it);
    return;
  }
  if (syn) {
    if (d.syn_seen && d.syn_seq != s.seq) {
      // The same address pair opens a new connection: finish the old one first.
      for (Direction& each : c.dirs)
        EndDirection(each, ts, "the address pair was reused");
      connections_.erase(it);
      OnSegment(s, ts);
      return;
    }
    if (!d.syn_seen && d.consumer == nullptr) {
      d.syn_seen = true;
      d.syn_seq = s.seq;
      d.base_seq = s.seq + 1;  // the SYN occupies one sequence number
      StartDirection(c, side, s, /*from_start=*/true);
    }
  }
  if (d.ended) return;
  const std::uint32_t data_seq = syn ? s.seq + 1 : s.seq;
  if (d.consumer == nullptr) {
    if (!has_data) return;
    d.base_seq = data_seq;
    StartDirection(c, side, s, /*from_start=*/false);
  }
  if (has_data) AcceptData(d, s, data_seq, ts);
  if (fin) {
    const std::int32_t rel = static_cast<std::int32_t>(
        data_seq - (d.base_seq + static_cast<std::uint32_t>(d.delivered)));
    const std::int64_t start = static_cast<std::int64_t>(d.delivered) + rel;
    const std::int64_t end =
        start + static_cast<std::int64_t>(s.payload.size() + s.missing_payload);
    if (!d.fin_seen && end >= 0) {
      d.fin_seen = true;
      d.fin_offset = static_cast<std::uint64_t>(end);
    }
    ReportClose(c, s.src, s.dst, ts);
    MaybeEnd(d, ts);
  }
  const bool done0 = c.dirs[0].ended || c.dirs[0].consumer == nullptr;
  const bool done1 = c.dirs[1].ended || c.dirs[1].consumer == nullptr;
  if (done0 && done1 && (c.dirs[0].ended || c.dirs[1].ended)) connections_.erase(it);
}

void TcpReassembler::AcceptData(Direction& d, const TcpSegment& s, std::uint32_t data_seq,
                                TimestampUs ts) {
  // Serial-number arithmetic: a difference within +-2^31 of the expected sequence number tells
  // old from new across the 32-bit wrap.
  const std::int32_t rel =
      static_cast<std::int32_t>(data_seq - (d.base_seq + static_cast<std::uint32_t>(d.delivered)));
  const std::int64_t start = static_cast<std::int64_t>(d.delivered) + rel;
  const std::int64_t captured_end = start + static_cast<std::int64_t>(s.payload.size());
  const std::int64_t end = captured_end + s.missing_payload;
  const auto delivered = static_cast<std::int64_t>(d.delivered);
  if (end <= delivered) {
    ++stats_.retransmitted_segments;
    return;
  }
  if (start > delivered) {
    ++stats_.out_of_order_segments;
    if (!s.payload.empty()) AddEarly(d, static_cast<std::uint64_t>(start), s.payload);
    while (d.early_bytes > max_out_of_order_bytes_) {
      ++stats_.overflows;
      GiveUpFirstHole(d, ts,
                      "out-of-order data exceeded " + std::to_string(max_out_of_order_bytes_) +
                          " bytes while waiting for them");
    }
    return;
  }
  if (captured_end > delivered) {
    Deliver(d, s.payload.subspan(static_cast<std::size_t>(delivered - start)), ts);
  }
  if (s.missing_payload != 0 && end > static_cast<std::int64_t>(d.delivered)) {
    const auto lost = static_cast<std::uint64_t>(end - static_cast<std::int64_t>(d.delivered));
    ++stats_.gaps;
    stats_.gap_bytes += lost;
    d.consumer->OnGap(lost, ts, "segment cut short by the capture's snaplen");
    d.delivered += lost;
  }
  DrainEarly(d, ts);
}

void TcpReassembler::Deliver(Direction& d, std::span<const std::uint8_t> bytes, TimestampUs ts) {
  d.delivered += bytes.size();
  d.consumer->OnData(bytes, ts);
}

void TcpReassembler::AddEarly(Direction& d, std::uint64_t offset,
                              std::span<const std::uint8_t> bytes) {
  auto [it, inserted] = d.early.try_emplace(offset);
  if (!inserted) {
    // A retransmission of an early segment: keep whichever copy covers more.
    if (it->second.size() >= bytes.size()) return;
    d.early_bytes -= it->second.size();
    buffered_bytes_ -= it->second.size();
  }
  it->second.assign(bytes.begin(), bytes.end());
  d.early_bytes += bytes.size();
  buffered_bytes_ += bytes.size();
  stats_.peak_out_of_order_bytes = std::max(stats_.peak_out_of_order_bytes, buffered_bytes_);
}

void TcpReassembler::DrainEarly(Direction& d, TimestampUs ts) {
  while (!d.early.empty()) {
    auto it = d.early.begin();
    if (it->first > d.delivered) break;
    const std::uint64_t end = it->first + it->second.size();
    if (end > d.delivered) {
      Deliver(d, std::span<const std::uint8_t>(it->second).subspan(d.delivered - it->first), ts);
    }
    d.early_bytes -= it->second.size();
    buffered_bytes_ -= it->second.size();
    d.early.erase(it);
  }
  MaybeEnd(d, ts);
}

void TcpReassembler::GiveUpFirstHole(Direction& d, TimestampUs ts, const std::string& why) {
  if (d.early.empty()) return;
  const std::uint64_t first = d.early.begin()->first;
  if (first > d.delivered) {
    ++stats_.gaps;
    stats_.gap_bytes += first - d.delivered;
    d.consumer->OnGap(first - d.delivered, ts, why);
    d.delivered = first;
  }
  DrainEarly(d, ts);
}

void TcpReassembler::MaybeEnd(Direction& d, TimestampUs ts) {
  if (d.fin_seen && !d.ended && d.early.empty() && d.delivered >= d.fin_offset) {
    d.ended = true;
    d.consumer->OnEnd(ts);
  }
}

void TcpReassembler::EndDirection(Direction& d, TimestampUs ts, const char* why) {
  if (d.consumer == nullptr || d.ended) return;
  const std::string reason = std::string("never retransmitted before ") + why;
  while (!d.early.empty())
    GiveUpFirstHole(d, ts, reason);
  if (d.ended) return;  // the FIN became reachable
  if (d.fin_seen && d.fin_offset > d.delivered) {
    ++stats_.gaps;
    stats_.gap_bytes += d.fin_offset - d.delivered;
    d.consumer->OnGap(d.fin_offset - d.delivered, ts, reason);
    d.delivered = d.fin_offset;
  }
  d.ended = true;
  d.consumer->OnEnd(ts);
}

void TcpReassembler::ReportClose(Connection& c, const Endpoint& from, const Endpoint& to,
                                 TimestampUs ts) {
  if (c.close_reported) return;
  c.close_reported = true;
  factory_.OnConnectionClosed(from, to, ts);
}

void TcpReassembler::Finish(TimestampUs ts) {
  // Flush in order of appearance so the output does not depend on hash-table order.
  std::vector<std::pair<std::uint64_t, Direction*>> open;
  for (auto& [key, c] : connections_) {
    for (Direction& d : c->dirs) {
      if (d.consumer != nullptr && !d.ended) open.emplace_back(d.id, &d);
    }
  }
  std::sort(open.begin(), open.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  for (auto& [id, d] : open)
    EndDirection(*d, ts, "the capture ended");
  connections_.clear();
}

}  // namespace ttlogin::tools::pdu_dump
