// The command line of login_server and the tools: one CLI11 app per program, one style for all
// of them, and the --help text, the man page and the bash completion generated from the same
// option definitions, so the three cannot drift from the code.
//
// The policy shared by every program: long options spelled with "--"; a usage error is one line
// naming the option, a hint to --help, and exit status 2; --help (and --version where a program
// has one) print to stdout and exit 0. Hidden options print the generated documents for the build
// (--print-man, --print-bash-completion) and the defined option names for the tests
// (--list-options).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace ttlogin::common {

// The exit status of a usage error, in every program.
inline constexpr int kExitUsageError = 2;

// A titled block of the documentation: paragraphs (separated by blank lines), then a list of
// terms with their explanations (scenarios, exit codes).
struct DocSection {
  std::string title;
  std::string text;
  std::vector<std::pair<std::string, std::string>> items;
};

// What --help and the man page say besides the options.
struct ToolDoc {
  std::string name;                   // the program's file name
  int man_section = 1;                // 8 for the daemon
  std::string summary;                // the man page's NAME line, after "name - "
  std::vector<std::string> synopsis;  // usage forms, each without the program name
  std::string description;            // paragraphs separated by blank lines
  std::vector<DocSection> sections;   // after the description, in --help and the man page
  DocSection exit_status;             // the last part of --help; EXIT STATUS in the man page
  std::vector<DocSection> man_only;   // FILES, ENVIRONMENT and such: the man page only
  std::vector<std::string> see_also;  // "loginserver.conf(5)"
  std::string version;                // non-empty: the program has -v/--version printing this
};

class CommandLine {
 public:
  explicit CommandLine(ToolDoc doc);
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  CLI::App& app() { return app_; }

  // The completion offers file names for this option's value (or for this positional argument).
  CLI::Option* Files(CLI::Option* option);
  // The completion offers these words for this option's value (or this positional argument).
  CLI::Option* Words(CLI::Option* option, std::vector<std::string> words);

  // Parses argv. Empty: the program goes on with the parsed values. Otherwise the program exits
  // with the returned status: 0 after printing --help, --version or a generated document, 2
  // after printing a usage error.
  [[nodiscard]] std::optional<int> Parse(int argc, char** argv);

  // For the checks a program makes after parsing (options that exclude each other, a missing
  // input): prints the error in the common form and returns kExitUsageError.
  [[nodiscard]] int UsageError(std::string_view message) const;

  std::string Help() const;
  // troff (man(7)) for section doc.man_section.
  std::string ManPage() const;
  // A bash completion function for the program, and the `complete` line installing it.
  std::string BashCompletion() const;
  // Every visible option name (short and long), one per line.
  std::string OptionNames() const;

 private:
  std::vector<const CLI::Option*> VisibleOptions() const;

  ToolDoc doc_;
  CLI::App app_;
  std::set<const CLI::Option*> file_values_;
  std::vector<std::pair<const CLI::Option*, std::vector<std::string>>> word_values_;
  bool print_man_ = false;
  bool print_completion_ = false;
  bool list_options_ = false;
};

// Lines of at most `width` columns, every line but the first indented by `indent` spaces; blank
// lines in `text` separate paragraphs.
std::string WrapText(std::string_view text, std::size_t indent, std::size_t width);

}  // namespace ttlogin::common
