#include "common/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "common/config_file.h"

namespace ttlogin::common {
namespace {

using google::protobuf::internal::WireFormatLite;

// Field numbers of StateSnapshot counted before parsing (proto/ttlogin_state.proto).
constexpr int kEntriesField = state::StateSnapshot::kEntriesFieldNumber;
constexpr int kDrainKeysField = state::StateSnapshot::kDrainKeysFieldNumber;

std::string OsError() {
  return std::strerror(errno);
}

void PutU32(std::string& out, std::uint32_t v) {
  out += static_cast<char>(v >> 24);
  out += static_cast<char>(v >> 16);
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v);
}

std::uint32_t GetU32(std::string_view in, std::size_t at) {
  const auto b = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + i]));
  };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

StateFileRead Fail(StateFileCode code, std::string detail) {
  StateFileRead r;
  r.code = code;
  r.detail = std::move(detail);
  return r;
}

// Counts the top-level entries and drain keys without building them (see kMaxStateEntries).
// False when the body is not well-formed protobuf wire data.
bool CountRepeated(std::string_view body, std::size_t& entries, std::size_t& drain_keys) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(body.data()),
                                            static_cast<int>(body.size()));
  entries = drain_keys = 0;
  while (true) {
    const std::uint32_t tag = in.ReadTag();
    // Tag 0 is the end of the input, or a malformed tag (then the input is not at its end).
    if (tag == 0) return in.CurrentPosition() == static_cast<int>(body.size());
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (field == kEntriesField) ++entries;
    if (field == kDrainKeysField) ++drain_keys;
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
}

}  // namespace

std::string_view StateFileCodeName(StateFileCode code) {
  switch (code) {
    case StateFileCode::kOk:
      return "ok";
    case StateFileCode::kMissing:
      return "missing";
    case StateFileCode::kUnreadable:
      return "unreadable";
    case StateFileCode::kNotRegular:
      return "not a regular file";
    case StateFileCode::kEmpty:
      return "empty";
    case StateFileCode::kTruncated:
      return "truncated";
    case StateFileCode::kForeign:
      return "not a ttlogin state file";
    case StateFileCode::kFutureVersion:
      return "newer format";
    case StateFileCode::kOversized:
      return "oversized";
    case StateFileCode::kCorrupt:
      return "corrupt";
    case StateFileCode::kTooMany:
      return "too many entries";
  }
  return "unknown";
}

std::uint32_t Crc32(std::string_view bytes) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t crc = 0xFFFFFFFFu;
  for (const char ch : bytes)
    crc = table[(crc ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::string EncodeStateFile(const state::StateSnapshot& snapshot) {
  if (static_cast<std::size_t>(snapshot.entries_size()) > kMaxStateEntries ||
      static_cast<std::size_t>(snapshot.drain_keys_size()) > kMaxStateDrainKeys) {
    return {};
  }
  std::string body;
  if (!snapshot.SerializeToString(&body) || body.size() > kMaxStateBodyBytes) return {};
  std::string out;
  out.reserve(kStateFileHeaderSize + body.size());
  out += kStateFileMagic;
  PutU32(out, kStateFileVersion);
  PutU32(out, static_cast<std::uint32_t>(body.size()));
  PutU32(out, Crc32(body));
  out += body;
  return out;
}

StateFileRead DecodeStateFile(std::string_view bytes) {
  if (bytes.empty()) return Fail(StateFileCode::kEmpty, "the file is empty");
  // Judge the magic on what is there, so a short foreign file is called foreign, not truncated.
  const std::size_t magic_seen = std::min(bytes.size(), kStateFileMagic.size());
  if (bytes.substr(0, magic_seen) != kStateFileMagic.substr(0, magic_seen)) {
    return Fail(StateFileCode::kForeign, "it does not start with \"TTLSTATE\"");
  }
  if (bytes.size() < kStateFileHeaderSize) {
    return Fail(StateFileCode::kTruncated,
                std::to_string(bytes.size()) + " bytes, shorter than the " +
                    std::to_string(kStateFileHeaderSize) + "-byte header");
  }
  const std::uint32_t version = GetU32(bytes, 8);
  const std::uint32_t length = GetU32(bytes, 12);
  const std::uint32_t crc = GetU32(bytes, 16);
  if (version > kStateFileVersion) {
    return Fail(StateFileCode::kFutureVersion, "format version " + std::to_string(version) +
                                                   "; this build reads up to " +
                                                   std::to_string(kStateFileVersion));
  }
  if (version == 0) return Fail(StateFileCode::kCorrupt, "format version 0");
  if (length > kMaxStateBodyBytes) {
    return Fail(StateFileCode::kOversized, "body of " + std::to_string(length) +
                                               " bytes, beyond the limit of " +
                                               std::to_string(kMaxStateBodyBytes));
  }
  const std::string_view body = bytes.substr(kStateFileHeaderSize);
  if (body.size() < length) {
    return Fail(StateFileCode::kTruncated, "body of " + std::to_string(body.size()) + " of " +
                                               std::to_string(length) + " bytes");
  }
  if (body.size() > length) {
    return Fail(StateFileCode::kCorrupt,
                std::to_string(body.size() - length) + " bytes after the body");
  }
  if (Crc32(body) != crc) return Fail(StateFileCode::kCorrupt, "checksum mismatch");
  std::size_t entries = 0;
  std::size_t drain_keys = 0;
  if (!CountRepeated(body, entries, drain_keys)) {
    return Fail(StateFileCode::kCorrupt, "the body is not a snapshot");
  }
  if (entries > kMaxStateEntries || drain_keys > kMaxStateDrainKeys) {
    return Fail(StateFileCode::kTooMany, std::to_string(entries) + " entries and " +
                                             std::to_string(drain_keys) + " drain keys; at most " +
                                             std::to_string(kMaxStateEntries) + " and " +
                                             std::to_string(kMaxStateDrainKeys));
  }
  StateFileRead r;
  if (!r.snapshot.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return Fail(StateFileCode::kCorrupt, "the body is not a snapshot");
  }
  return r;
}

StateFileRead ReadStateFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Fail(StateFileCode::kMissing, "no such file");
    return Fail(StateFileCode::kUnreadable, "cannot stat: " + OsError());
  }
  if (!S_ISREG(st.st_mode)) return Fail(StateFileCode::kNotRegular, NotARegularFile(path));
  constexpr std::size_t kMaxFile = kStateFileHeaderSize + kMaxStateBodyBytes;
  if (static_cast<std::uint64_t>(st.st_size) > kMaxFile) {
    return Fail(
        StateFileCode::kOversized,
        std::to_string(st.st_size) + " bytes, beyond the limit of " + std::to_string(kMaxFile));
  }
  std::string bytes;
  if (std::string why = ReadRegularFile(path, kMaxFile, bytes); !why.empty()) {
    // Only a file swapped between the stat and the read gets here with a kind or size problem.
    return Fail(StateFileCode::kUnreadable, why);
  }
  return DecodeStateFile(bytes);
}

std::string WriteStateFileAtomically(const std::string& path, std::string_view bytes) {
  const std::filesystem::path target(path);
  std::string dir = target.parent_path().string();
  if (dir.empty()) dir = ".";
  std::string temp = path + ".XXXXXX";
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return "cannot create a temporary file in " + dir + ": " + OsError();
  std::string error;
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = "write " + temp + ": " + OsError();
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  // mkostemp makes it 0600; the group may read it (an operator's tools), nobody else.
  if (error.empty() && ::fchmod(fd, 0640) != 0) error = "chmod " + temp + ": " + OsError();
  if (error.empty() && ::fsync(fd) != 0) error = "fsync " + temp + ": " + OsError();
  if (::close(fd) != 0 && error.empty()) error = "close " + temp + ": " + OsError();
  if (error.empty() && ::rename(temp.c_str(), path.c_str()) != 0) {
    error = "rename to " + path + ": " + OsError();
  }
  if (!error.empty()) {
    ::unlink(temp.c_str());
    return error;
  }
  // The rename is durable only once the directory entry is.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return "open directory " + dir + " to fsync it: " + OsError();
  if (::fsync(dir_fd) != 0) error = "fsync directory " + dir + ": " + OsError();
  ::close(dir_fd);
  return error;
}

std::size_t RemoveStaleStateTemporaries(const std::string& path, std::chrono::seconds older_than) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".";
  constexpr std::size_t kSuffix = 6;  // mkostemp's XXXXXX
  std::error_code ec;
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const auto now = fs::file_time_type::clock::now();
  std::size_t removed = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() != prefix.size() + kSuffix || name.compare(0, prefix.size(), prefix) != 0) {
      continue;
    }
    const bool alnum =
        std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                    [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
    std::error_code file_ec;
    if (!alnum || !it->is_regular_file(file_ec) || file_ec) continue;
    const auto modified = fs::last_write_time(it->path(), file_ec);
    if (file_ec || now - modified < older_than) continue;
    if (fs::remove(it->path(), file_ec)) ++removed;
  }
  return removed;
}

}  // namespace ttlogin::common
