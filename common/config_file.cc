#include "common/config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>

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

bool IsBlank(char c) {
  return c == ' ' || c == '\t';
}

// Where the comment of a trimmed, non-comment line starts: the first '#' preceded by a blank.
std::size_t CommentStart(std::string_view line) {
  for (std::size_t i = 1; i < line.size(); ++i) {
    if (line[i] == '#' && IsBlank(line[i - 1])) return i;
  }
  return std::string_view::npos;
}

std::string OsError() {
  return std::error_code(errno, std::generic_category()).message();
}

// What a non-regular file is, for the operator.
std::string KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

std::string RefuseKind(mode_t mode) {
  return "is " + KindOf(mode) + ", not a regular file";
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
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    if (const std::size_t hash = CommentStart(line); hash != std::string_view::npos) {
      const std::string_view comment = line.substr(hash + 1);
      line = Trim(line.substr(0, hash));
      const std::size_t eq = line.find('=');
      if (eq != std::string_view::npos && Trim(line.substr(eq + 1)).empty()) {
        file.warnings.push_back(Where(file.path, line_no) + ": " +
                                std::string(Trim(line.substr(0, eq))) +
                                " is empty: the text after ' #' is a comment");
      } else if (eq != std::string_view::npos && !comment.empty() && !IsBlank(comment.front())) {
        file.warnings.push_back(Where(file.path, line_no) + ": " +
                                std::string(Trim(line.substr(0, eq))) +
                                ": the text after ' #' is a comment and looks cut from the value; "
                                "write '# ' for a comment, or remove the blank before '#' to keep "
                                "it in the value");
      }
    }
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
  std::string text;
  if (std::string error = ReadRegularFile(path, kMaxConfigFileSize, text); !error.empty()) {
    ConfigFile file;
    file.path = path;
    // Keep the classic wording for the common case of a wrong path.
    const std::string_view kCannotOpen = "cannot open: ";
    file.errors.push_back(path + ": " +
                          (error.starts_with(kCannotOpen)
                               ? "cannot open config file: " + error.substr(kCannotOpen.size())
                               : "config file " + error));
    return file;
  }
  return ParseConfigText(text, path);
}

std::string NotARegularFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return S_ISREG(st.st_mode) ? std::string() : RefuseKind(st.st_mode);
}

std::string ReadRegularFile(const std::string& path, std::size_t max_size, std::string& text) {
  // stat first: opening a FIFO for reading blocks until a writer appears.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "cannot open: " + OsError();
  if (!S_ISREG(st.st_mode)) return RefuseKind(st.st_mode);
  // O_NONBLOCK and fstat close the race with a FIFO swapped in after the stat.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return "cannot open: " + OsError();
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) return "cannot stat: " + OsError();
  if (!S_ISREG(st.st_mode)) return RefuseKind(st.st_mode);
  const auto too_big = [&] {
    return "larger than " + std::to_string(max_size) + " bytes; is it the right file?";
  };
  if (static_cast<std::uint64_t>(st.st_size) > max_size) return too_big();
  // Read up to one byte past the limit: the file may grow between fstat and read.
  text.assign(static_cast<std::size_t>(st.st_size) + 1, '\0');
  std::size_t got = 0;
  while (true) {
    if (got == text.size()) {
      if (text.size() > max_size) return too_big();
      text.resize(std::min(text.size() * 2, max_size + 1));
    }
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return "read error: " + OsError();
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return {};
}

}  // namespace ttlogin::common
