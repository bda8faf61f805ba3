// The warm start snapshot file (StateFile): a small frame around a ttlogin.state.StateSnapshot
// protobuf body (proto/ttlogin_state.proto).
//
// Layout, integers big-endian:
//   magic "TTLSTATE" (8 bytes) | format version u32 | body length u32 | CRC-32 of the body u32 |
//   body (the StateSnapshot)
// The frame lets a reader tell apart, before parsing anything, a file that is not ours (wrong
// magic), one written by a newer format (version), a torn or truncated write (length), and
// flipped bits (checksum). Every such file is a warning and a cold start: the snapshot only saves
// clients a few seconds of refusals, so nothing in it is worth a crash or a stalled start.
// The body length and the entry count are capped, so a hostile or broken file costs bounded
// memory.
//
// Writing is atomic: a temporary file in the same directory is written, fsynced and renamed over
// the old one, then the directory is fsynced; a crash at any point leaves the old file or the new
// one, never a mix.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ttlogin_state.pb.h"

namespace ttlogin::common {

inline constexpr std::string_view kStateFileMagic = "TTLSTATE";
// The frame and body this build writes. A reader refuses a higher version: a newer writer may
// have changed what a field means.
inline constexpr std::uint32_t kStateFileVersion = 1;
inline constexpr std::size_t kStateFileHeaderSize = 8 + 4 + 4 + 4;
// A snapshot of 100,000 msg_servers is about 8 MB; anything far beyond is not a snapshot of ours.
inline constexpr std::uint32_t kMaxStateBodyBytes = 32 * 1024 * 1024;
// Entries and drain keys one snapshot may hold. Counted in the body before it is parsed: a parsed
// entry costs about 200 bytes however few bytes it took in the file, so the body cap alone would
// let 32 MB of empty entries become gigabytes. A registry beyond kMaxStateEntries is not
// snapshotted (the writer says so); MaxMsgServers bounds what a snapshot restores further.
inline constexpr std::size_t kMaxStateEntries = 200'000;
inline constexpr std::size_t kMaxStateDrainKeys = 100'000;

enum class StateFileCode : std::uint8_t {
  kOk,
  kMissing,        // no such file (a first start): a cold start, not a problem
  kUnreadable,     // open or read failed (permissions, I/O error)
  kNotRegular,     // a directory, FIFO, socket or device
  kEmpty,          // zero bytes
  kTruncated,      // shorter than its header or its header's body length
  kForeign,        // the magic is not ours
  kFutureVersion,  // written by a newer format
  kOversized,      // the body length (or the file) is beyond kMaxStateBodyBytes
  kCorrupt,        // checksum mismatch, trailing bytes, or a body that does not parse
  kTooMany,        // more entries or drain keys than the caps
};
std::string_view StateFileCodeName(StateFileCode code);

struct StateFileRead {
  StateFileCode code = StateFileCode::kOk;
  std::string detail;  // why, for the log line (empty when kOk)
  state::StateSnapshot snapshot;
  bool ok() const { return code == StateFileCode::kOk; }
};

// The framed bytes of `snapshot`. Empty when the body would exceed kMaxStateBodyBytes.
std::string EncodeStateFile(const state::StateSnapshot& snapshot);
// Checks the frame and parses the body. Never throws; any input gets a code.
[[nodiscard]] StateFileRead DecodeStateFile(std::string_view bytes);
// Reads and decodes `path` (a regular file of at most header + kMaxStateBodyBytes).
[[nodiscard]] StateFileRead ReadStateFile(const std::string& path);
// Writes `bytes` to `path` atomically (see above). Returns an empty string, or why not.
[[nodiscard]] std::string WriteStateFileAtomically(const std::string& path, std::string_view bytes);

// Removes temporary files a writer killed between creating and renaming them left next to
// `path` (`<name>.XXXXXX`, regular, last modified more than `older_than` ago: a write takes
// milliseconds, and another process may be writing right now). Returns how many were removed.
std::size_t RemoveStaleStateTemporaries(const std::string& path, std::chrono::seconds older_than);

// CRC-32 (IEEE 802.3, as zlib's crc32) of `bytes`.
std::uint32_t Crc32(std::string_view bytes);

}  // namespace ttlogin::common
