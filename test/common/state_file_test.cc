// The warm start snapshot file: frame, limits, and the atomic write.
#include "common/state_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ttlogin::common {
namespace {

state::StateSnapshot Sample() {
  state::StateSnapshot s;
  s.set_written_unix_ms(1'700'000'123'456);
  s.set_writer_version("0.1.0");
  for (int i = 0; i < 2; ++i) {
    state::MsgServerEntry& e = *s.add_entries();
    e.set_ip1("10.0.0." + std::to_string(i + 1));
    e.set_ip2("192.168.0." + std::to_string(i + 1));
    e.set_port(8000 + i);
    e.set_max_conn_cnt(1000);
    e.set_cur_conn_cnt(17 * (i + 1));
    e.set_host_name("msg-" + std::to_string(i));
    e.set_draining(i == 1);
    e.set_registered_unix_ms(1'700'000'000'000 + i);
    e.set_known_unix_ms(1'700'000'123'456);
  }
  s.add_drain_keys("msg-1:8001");
  return s;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ttlogin-state-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    path_ = made == nullptr ? "/tmp" : made;
  }
  ~TempDir() {
    ::chmod(path_.c_str(), 0700);
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_))
      out.push_back(e.path().filename().string());
    return out;
  }

 private:
  std::string path_;
};

void WriteRaw(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A frame around `body` with a right checksum and the given header fields.
std::string Frame(std::string_view body, std::uint32_t version = kStateFileVersion,
                  std::uint32_t length = 0xFFFFFFFF, std::string_view magic = kStateFileMagic) {
  auto u32 = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  if (length == 0xFFFFFFFF) length = static_cast<std::uint32_t>(body.size());
  return std::string(magic) + u32(version) + u32(length) + u32(Crc32(body)) + std::string(body);
}

TEST(StateFileTest, Crc32MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32(""), 0u);
}

TEST(StateFileTest, RoundTripsThroughTheFile) {
  TempDir dir;
  const std::string path = dir.path() + "/state.bin";
  const state::StateSnapshot snap = Sample();
  const std::string bytes = EncodeStateFile(snap);
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes.substr(0, 8), "TTLSTATE");
  ASSERT_EQ(WriteStateFileAtomically(path, bytes), "");
  const StateFileRead read = ReadStateFile(path);
  ASSERT_TRUE(read.ok()) << StateFileCodeName(read.code) << ": " << read.detail;
  EXPECT_EQ(read.snapshot.SerializeAsString(), snap.SerializeAsString());
  EXPECT_EQ(read.snapshot.entries(1).host_name(), "msg-1");
  EXPECT_EQ(read.snapshot.entries(1).cur_conn_cnt(), 34u);
  EXPECT_TRUE(read.snapshot.entries(1).draining());
  EXPECT_EQ(read.snapshot.drain_keys(0), "msg-1:8001");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(StateFileTest, AnEmptySnapshotRoundTrips) {
  const std::string bytes = EncodeStateFile(state::StateSnapshot());
  EXPECT_EQ(bytes.size(), kStateFileHeaderSize);
  const StateFileRead read = DecodeStateFile(bytes);
  EXPECT_TRUE(read.ok());
  EXPECT_EQ(read.snapshot.entries_size(), 0);
}

TEST(StateFileTest, AWriteReplacesTheOldFileAndLeavesNoTemporaryBehind) {
  TempDir dir;
  const std::string path = dir.path() + "/state.bin";
  state::StateSnapshot first = Sample();
  ASSERT_EQ(WriteStateFileAtomically(path, EncodeStateFile(first)), "");
  state::StateSnapshot second = Sample();
  second.mutable_entries(0)->set_cur_conn_cnt(999);
  ASSERT_EQ(WriteStateFileAtomically(path, EncodeStateFile(second)), "");
  const StateFileRead read = ReadStateFile(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read.snapshot.entries(0).cur_conn_cnt(), 999u);
  EXPECT_EQ(dir.Names(), std::vector<std::string>{"state.bin"});
}

TEST(StateFileTest, EveryTruncationIsTruncatedOrEmpty) {
  const std::string bytes = EncodeStateFile(Sample());
  ASSERT_GT(bytes.size(), kStateFileHeaderSize + 20);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const StateFileRead read = DecodeStateFile(std::string_view(bytes).substr(0, n));
    EXPECT_EQ(read.code, n == 0 ? StateFileCode::kEmpty : StateFileCode::kTruncated)
        << "at " << n << " of " << bytes.size() << " bytes: " << StateFileCodeName(read.code);
    EXPECT_FALSE(read.detail.empty());
  }
  EXPECT_TRUE(DecodeStateFile(bytes).ok());
}

TEST(StateFileTest, EveryFlippedByteIsRefused) {
  const std::string bytes = EncodeStateFile(Sample());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (const unsigned char mask : {0x01, 0x80, 0xFF}) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      const StateFileRead read = DecodeStateFile(bad);
      EXPECT_FALSE(read.ok()) << "byte " << i << " mask " << int{mask};
      if (i < 8) {
        EXPECT_EQ(read.code, StateFileCode::kForeign) << "byte " << i;
      } else if (i >= kStateFileHeaderSize) {
        EXPECT_EQ(read.code, StateFileCode::kCorrupt) << "byte " << i;
        EXPECT_EQ(read.detail, "checksum mismatch");
      }
    }
  }
}

TEST(StateFileTest, AForeignFileIsToldApart) {
  EXPECT_EQ(DecodeStateFile("ClientListenIP=0.0.0.0\nClientPort=8008\n").code,
            StateFileCode::kForeign);
  EXPECT_EQ(DecodeStateFile("T").code, StateFileCode::kTruncated);  // a prefix of the magic
  EXPECT_EQ(DecodeStateFile("X").code, StateFileCode::kForeign);
  const std::string body = Sample().SerializeAsString();
  EXPECT_EQ(DecodeStateFile(Frame(body, kStateFileVersion, 0xFFFFFFFF, "TTLSTATX")).code,
            StateFileCode::kForeign);
  EXPECT_EQ(DecodeStateFile(body).code, StateFileCode::kForeign);  // a bare body
}

TEST(StateFileTest, AFutureVersionIsRefusedByName) {
  const StateFileRead read =
      DecodeStateFile(Frame(Sample().SerializeAsString(), kStateFileVersion + 1));
  EXPECT_EQ(read.code, StateFileCode::kFutureVersion);
  EXPECT_NE(read.detail.find("format version 2"), std::string::npos) << read.detail;
  EXPECT_EQ(DecodeStateFile(Frame(Sample().SerializeAsString(), 0)).code, StateFileCode::kCorrupt);
}

TEST(StateFileTest, AnOversizedLengthIsRefusedWithoutItsBody) {
  // The header promises more than the cap; the reader must not wait for or allocate it.
  const StateFileRead read = DecodeStateFile(Frame("", kStateFileVersion, kMaxStateBodyBytes + 1));
  EXPECT_EQ(read.code, StateFileCode::kOversized);
  EXPECT_EQ(DecodeStateFile(Frame("", kStateFileVersion, 0xFFFFFFFE)).code,
            StateFileCode::kOversized);
}

TEST(StateFileTest, AnOversizedFileIsRefusedBeforeItIsRead) {
  TempDir dir;
  const std::string path = dir.path() + "/state.bin";
  WriteRaw(path, Frame(""));
  // Sparse: no disk is spent on the hole.
  ASSERT_EQ(::truncate(path.c_str(), kStateFileHeaderSize + kMaxStateBodyBytes + 1), 0);
  EXPECT_EQ(ReadStateFile(path).code, StateFileCode::kOversized);
}

TEST(StateFileTest, TrailingBytesAndABadBodyAreCorrupt) {
  const std::string good = EncodeStateFile(Sample());
  const StateFileRead trailing = DecodeStateFile(good + "x");
  EXPECT_EQ(trailing.code, StateFileCode::kCorrupt);
  EXPECT_NE(trailing.detail.find("after the body"), std::string::npos);
  // Right checksum, but not protobuf: a wire type 7 tag, and a length running past the end.
  EXPECT_EQ(DecodeStateFile(Frame("\x0f\x01")).code, StateFileCode::kCorrupt);
  EXPECT_EQ(DecodeStateFile(Frame("\x1a\x7f\x01")).code, StateFileCode::kCorrupt);
}

TEST(StateFileTest, TooManyEntriesAreRefusedBeforeParsing) {
  // Empty entries cost two bytes each in the file and far more parsed.
  std::string body;
  for (std::size_t i = 0; i <= kMaxStateEntries; ++i)
    body += std::string("\x1a\x00", 2);
  const StateFileRead read = DecodeStateFile(Frame(body));
  EXPECT_EQ(read.code, StateFileCode::kTooMany);
  EXPECT_EQ(read.snapshot.entries_size(), 0);
  std::string keys;
  for (std::size_t i = 0; i <= kMaxStateDrainKeys; ++i)
    keys += std::string("\x22\x00", 2);
  EXPECT_EQ(DecodeStateFile(Frame(keys)).code, StateFileCode::kTooMany);
  // The writer refuses to produce what the reader would refuse.
  state::StateSnapshot big;
  for (std::size_t i = 0; i <= kMaxStateEntries; ++i)
    big.add_entries();
  EXPECT_EQ(EncodeStateFile(big), "");
}

TEST(StateFileTest, AnEmptyFileAMissingFileAndADirectoryAreToldApart) {
  TempDir dir;
  const std::string empty = dir.path() + "/empty.bin";
  WriteRaw(empty, "");
  EXPECT_EQ(ReadStateFile(empty).code, StateFileCode::kEmpty);
  EXPECT_EQ(ReadStateFile(dir.path() + "/none.bin").code, StateFileCode::kMissing);
  const StateFileRead d = ReadStateFile(dir.path());
  EXPECT_EQ(d.code, StateFileCode::kNotRegular);
  EXPECT_NE(d.detail.find("directory"), std::string::npos) << d.detail;
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(ReadStateFile(fifo).code, StateFileCode::kNotRegular);  // and it did not block
}

TEST(StateFileTest, AWriteIntoAnUnwritableDirectoryFailsCleanly) {
  const std::string bytes = EncodeStateFile(Sample());
  TempDir dir;
  const std::string missing = dir.path() + "/no/such/dir/state.bin";
  EXPECT_NE(WriteStateFileAtomically(missing, bytes), "");
  if (::geteuid() != 0) {
    ASSERT_EQ(::chmod(dir.path().c_str(), 0500), 0);
    const std::string error = WriteStateFileAtomically(dir.path() + "/state.bin", bytes);
    EXPECT_NE(error.find("cannot create a temporary file"), std::string::npos) << error;
  } else {
    // Root writes through permission bits; /proc takes no new files from anyone.
    const std::string error = WriteStateFileAtomically("/proc/ttlogin-state.bin", bytes);
    EXPECT_NE(error.find("cannot create a temporary file"), std::string::npos) << error;
  }
  EXPECT_TRUE(dir.Names().empty());
  // A directory where the file should be: the rename fails and the temporary file is removed.
  ASSERT_EQ(::chmod(dir.path().c_str(), 0700), 0);
  const std::string target = dir.path() + "/state.bin";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  ::close(::open((target + "/x").c_str(), O_CREAT | O_WRONLY, 0600));
  const std::string error = WriteStateFileAtomically(target, bytes);
  EXPECT_NE(error.find("rename"), std::string::npos) << error;
  EXPECT_EQ(dir.Names(), std::vector<std::string>{"state.bin"});
}

}  // namespace
}  // namespace ttlogin::common

namespace ttlogin::common {
namespace {

TEST(StateFileTest, StaleTemporariesOfAnInterruptedWriteAreRemoved) {
  char tmpl[] = "/tmp/ttlogin-state-tmp-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string path = dir + "/state.bin";
  const auto make = [&](const std::string& name, bool old) {
    const std::string p = dir + "/" + name;
    std::ofstream(p) << "x";
    if (old) {
      std::filesystem::last_write_time(
          p, std::filesystem::file_time_type::clock::now() - std::chrono::minutes(5));
    }
  };
  make("state.bin.a1B2c3", true);   // left by a writer that died: removed
  make("state.bin.Zz9yY8", false);  // a write in progress right now: kept
  make("state.bin.short", true);    // not a temporary of ours
  make("state.bin.ab-def", true);
  make("other.bin.a1B2c3", true);
  make("state.bin", true);
  EXPECT_EQ(RemoveStaleStateTemporaries(path, std::chrono::seconds(60)), 1u);
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"other.bin.a1B2c3", "state.bin", "state.bin.Zz9yY8",
                                            "state.bin.ab-def", "state.bin.short"}));
  // A folder that does not exist is no error.
  EXPECT_EQ(RemoveStaleStateTemporaries(dir + "/none/state.bin", std::chrono::seconds(60)), 0u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ttlogin::common
