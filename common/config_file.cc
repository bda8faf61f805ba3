#include "common/config_file.h"

#include <fstream>
#include <sstream>

namespace ttlogin::common {
namespace {

std::string_view Trim(std::string_view s) {
  const auto is_blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_blank(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back()))
    s.remove_suffix(1);
  return s;
}

std::string Where(const std::string& path, int line) {
  return path + ":" + std::to_string(line);
}

}  // namespace

const ConfigValue* ConfigFile::Find(std::string_view key) const {
  auto it = values.find(key);
  return it == values.end() ? nullptr : &it->second;
}

ConfigFile ParseConfigText(std::string_view text, std::string path) {
  ConfigFile file;
  file.path = std::move(path);
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);

    if (line.find('\0') != std::string_view::npos) {
      file.errors.push_back(Where(file.path, line_no) + ": binary data (NUL byte) in config line");
      continue;
    }
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = Trim(line);
    if (line.empty()) continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      file.errors.push_back(Where(file.path, line_no) + ": expected key=value, got '" +
                            std::string(line.substr(0, 80)) + "'");
      continue;
    }
    const std::string_view key = Trim(line.substr(0, eq));
    const std::string_view value = Trim(line.substr(eq + 1));
    if (key.empty()) {
      file.errors.push_back(Where(file.path, line_no) + ": empty key before '='");
      continue;
    }
    if (const ConfigValue* old = file.Find(key)) {
      file.warnings.push_back(Where(file.path, line_no) + ": " + std::string(key) +
                              " is set again (line " + std::to_string(old->line) +
                              "); the last value wins");
    }
    file.values[std::string(key)] = ConfigValue{std::string(value), line_no};
  }
  return file;
}

ConfigFile LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigFile file;
    file.path = path;
    file.errors.push_back(path + ": cannot open config file");
    return file;
  }
  std::string text;
  char chunk[4096];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxConfigFileSize) {
      ConfigFile file;
      file.path = path;
      file.errors.push_back(path + ": config file is larger than " +
                            std::to_string(kMaxConfigFileSize) + " bytes; is it the right file?");
      return file;
    }
  }
  if (in.bad()) {
    ConfigFile file;
    file.path = path;
    file.errors.push_back(path + ": read error");
    return file;
  }
  return ParseConfigText(text, path);
}

}  // namespace ttlogin::common
