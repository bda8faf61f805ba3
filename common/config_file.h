// Reader for the classic `key=value` config format of loginserver.conf.
//
// Rules (PROTOCOL.md): one key=value per line; '#' starts a comment, also after a value; blanks
// around keys and values are trimmed. Every value remembers its line so that errors can name it.
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

// Bound on a config file: a real one is a few hundred bytes, so a huge file is a mistake
// (pointing -c at a log or a binary) and is refused instead of read into memory.
inline constexpr std::size_t kMaxConfigFileSize = 1024 * 1024;

}  // namespace ttlogin::common
