// Reader for the classic `key=value` config format of loginserver.conf.
//
// Rules: one key=value per line; blanks around keys and values are trimmed. A line whose first
// non-blank is '#' is a comment. After a value, '#' starts a comment only when a blank (space or
// tab) precedes it: the classic files write "ClientPort=8008   # note", while a token or URL may
// hold a '#' ("AdminToken=Kx9#fQ2"), which the classic rule silently cut. A comment that looks
// like part of a value (its '#' directly followed by text, as in "AdminToken=Kx9 #fQ2") or that
// leaves a value empty gets a warning. Every value remembers its line so errors can name it.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ttlogin::common {

struct ConfigValue {
  std::string value;
  int line = 0;
};

struct ConfigFile {
  std::string path;  // for messages; "<text>" when parsed from memory
  std::map<std::string, ConfigValue, std::less<>> values;
  std::vector<std::string> errors;    // malformed lines: the file must not be used
  std::vector<std::string> warnings;  // suspicious but harmless (a key given twice)

  const ConfigValue* Find(std::string_view key) const;
};

// Parses config text. Never throws; problems land in errors/warnings.
ConfigFile ParseConfigText(std::string_view text, std::string path = "<text>");

// Reads and parses a file. A file that cannot be read gives one error.
ConfigFile LoadConfigFile(const std::string& path);

// Reads a whole regular file of at most `max_size` bytes into `text`. A FIFO, socket or device
// is refused before it is opened (stat), and the open is non-blocking with an fstat of the
// opened descriptor, so a FIFO swapped in meanwhile cannot hang the caller either. Returns an
// empty string, or why not (without the path).
std::string ReadRegularFile(const std::string& path, std::size_t max_size, std::string& text);

// Empty when `path` does not exist or is a regular file; otherwise why it cannot be a file we
// write to or read (a directory, FIFO, socket or device). Does not open it.
std::string NotARegularFile(const std::string& path);

// Bound on a config file: a real one is a few hundred bytes, so a huge file is a mistake
// (pointing -c at a log or a binary) and is refused instead of read into memory.
inline constexpr std::size_t kMaxConfigFileSize = 1024 * 1024;

}  // namespace ttlogin::common
