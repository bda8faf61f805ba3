#include "common/command_line.h"

#include <algorithm>
#include <cctype>
#include <iostream>
#include <memory>
#include <sstream>

#ifndef TTLOGIN_VERSION
#define TTLOGIN_VERSION ""
#endif

namespace ttlogin::common {
namespace {

// --help is read in an 80-column terminal.
constexpr std::size_t kHelpWidth = 79;
// Where option descriptions start in --help; longer option names put theirs on the next line.
constexpr std::size_t kOptionColumn = 26;
// The indent of an item's explanation (exit codes, scenarios) in --help when its term is too long
// to be followed on the same line.
constexpr std::size_t kItemIndent = 8;

std::vector<std::string> Paragraphs(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find("\n\n", pos);
    if (end == std::string_view::npos) end = text.size();
    std::string p(text.substr(pos, end - pos));
    std::replace(p.begin(), p.end(), '\n', ' ');
    if (p.find_first_not_of(' ') != std::string::npos) out.push_back(std::move(p));
    pos = end + 2;
  }
  return out;
}

// "-c, --count": every short and long name of an option.
std::string OptionNamesOf(const CLI::Option* opt) {
  std::string names;
  for (const std::string& s : opt->get_snames())
    names += (names.empty() ? "-" : ", -") + s;
  for (const std::string& l : opt->get_lnames())
    names += (names.empty() ? "--" : ", --") + l;
  return names;
}

bool TakesValue(const CLI::Option* opt) {
  return opt->get_expected_max() > 0;
}

// The error's text, naming the option. CLI11's "--x: 1 required TEXT missing" says the value is
// missing in a way users misread; the rest of its messages already start with the option.
std::string Describe(const CLI::ParseError& e) {
  const std::string what = e.what();
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr &&
      what.find(" required ") != std::string::npos && what.ends_with(" missing")) {
    return what.substr(0, what.find(':')) + " needs a value";
  }
  return what;
}

// man(7) text: backslashes and hyphens escaped, a leading control character neutralised.
std::string Roff(std::string_view text) {
  std::string out;
  if (!text.empty() && (text.front() == '.' || text.front() == '\'')) out += "\\&";
  for (const char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string Upper(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string HelpSection(const DocSection& s) {
  std::string out = s.title + ":\n";
  for (const std::string& p : Paragraphs(s.text))
    out += "  " + WrapText(p, 2, kHelpWidth) + "\n";
  // The explanations line up after the longest term that fits before the option column.
  std::size_t indent = 0;
  for (const auto& item : s.items) {
    if (2 + item.first.size() + 2 <= kOptionColumn)
      indent = std::max(indent, item.first.size() + 4);
  }
  for (const auto& [term, text] : s.items) {
    std::string left = "  " + term;
    if (left.size() + 2 > indent) {
      const std::size_t next = indent == 0 ? kItemIndent : indent;
      out += left + "\n" + std::string(next, ' ') + WrapText(text, next, kHelpWidth);
    } else {
      out += left + std::string(indent - left.size(), ' ') + WrapText(text, indent, kHelpWidth);
    }
    out += "\n";
  }
  return out;
}

std::string ManSection(const DocSection& s, std::string_view title) {
  std::string out = ".SH \"" + Upper(std::string(title)) + "\"\n";
  for (const std::string& p : Paragraphs(s.text))
    out += ".PP\n" + Roff(p) + "\n";
  for (const auto& [term, text] : s.items) {
    out += ".TP\n\\fB" + Roff(term) + "\\fR\n" + Roff(text) + "\n";
  }
  return out;
}

// CLI11's layout, with the usage forms and the description of the ToolDoc, option names spelled
// "-c, --count N" and descriptions wrapped to the terminal.
class DocFormatter : public CLI::Formatter {
 public:
  explicit DocFormatter(const ToolDoc* doc) : doc_(doc) { column_width(kOptionColumn); }

  std::string make_description(const CLI::App*) const override { return {}; }
  // The usage forms and the sections of the ToolDoc say what the positional arguments are.
  std::string make_positionals(const CLI::App*) const override { return {}; }

  std::string make_usage(const CLI::App*, std::string) const override {
    std::string out;
    for (std::size_t i = 0; i < doc_->synopsis.size(); ++i) {
      const std::string lead = (i == 0 ? "Usage: " : "       ") + doc_->name + " ";
      out += lead + WrapText(doc_->synopsis[i], lead.size() + 2, kHelpWidth) + "\n";
    }
    for (const std::string& p : Paragraphs(doc_->description)) {
      out += "\n" + WrapText(p, 0, kHelpWidth) + "\n";
    }
    for (const DocSection& s : doc_->sections)
      out += "\n" + HelpSection(s);
    return out;
  }

  std::string make_option(const CLI::Option* opt, bool is_positional) const override {
    // Long-only options line up with the long names of the others, as in GNU tools.
    const bool long_only = !is_positional && opt->get_snames().empty();
    std::string left =
        (long_only ? "      " : "  ") + (is_positional ? opt->get_name(true) : OptionNamesOf(opt));
    if (!is_positional && TakesValue(opt)) left += " " + opt->get_type_name();
    const std::string& desc = opt->get_description();
    if (desc.empty()) return left + "\n";
    if (left.size() + 2 > kOptionColumn) {
      left += "\n" + std::string(kOptionColumn, ' ');
    } else {
      left += std::string(kOptionColumn - left.size(), ' ');
    }
    return left + WrapText(desc, kOptionColumn, kHelpWidth) + "\n";
  }

  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override {
    std::string help = CLI::Formatter::make_help(app, std::move(name), mode);
    // CLI11 ends the last option group with a blank line and puts another before the footer.
    for (std::size_t pos; (pos = help.find("\n\n\n")) != std::string::npos;)
      help.erase(pos, 1);
    return help;
  }

  std::string make_footer(const CLI::App*) const override {
    return doc_->exit_status.title.empty() ? std::string() : HelpSection(doc_->exit_status);
  }

 private:
  const ToolDoc* doc_;
};

}  // namespace

std::string WrapText(std::string_view text, std::size_t indent, std::size_t width) {
  std::string out;
  bool first_paragraph = true;
  for (const std::string& p : Paragraphs(text)) {
    if (!first_paragraph) out += "\n\n" + std::string(indent, ' ');
    first_paragraph = false;
    std::istringstream words(p);
    std::string word;
    std::size_t column = indent;
    bool line_empty = true;
    while (words >> word) {
      if (!line_empty && column + 1 + word.size() > width) {
        out += "\n" + std::string(indent, ' ');
        column = indent;
        line_empty = true;
      }
      if (!line_empty) {
        out += ' ';
        ++column;
      }
      out += word;
      column += word.size();
      line_empty = false;
    }
  }
  return out;
}

CommandLine::CommandLine(ToolDoc doc) : doc_(std::move(doc)), app_(doc_.summary, doc_.name) {
  app_.formatter(std::make_shared<DocFormatter>(&doc_));
  app_.set_help_flag("-h,--help", "print this help and exit");
  if (!doc_.version.empty()) {
    app_.set_version_flag("-v,--version", doc_.version, "print the version and exit");
  }
  // A repeated option means its last value, as the hand-written parsers had it; the repeatable
  // ones (lists) say so where they are defined.
  app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  // Unknown arguments are reported by Parse in the common form rather than as CLI11's text.
  app_.allow_extras(true);
  app_.add_flag("--print-man", print_man_, "print the man page (troff) and exit")->group("");
  app_.add_flag("--print-bash-completion", print_completion_,
                "print the bash completion function and exit")
      ->group("");
  app_.add_flag("--list-options", list_options_, "print every option name and exit")->group("");
}

CLI::Option* CommandLine::Files(CLI::Option* option) {
  file_values_.insert(option);
  return option;
}

CLI::Option* CommandLine::Words(CLI::Option* option, std::vector<std::string> words) {
  word_values_.emplace_back(option, std::move(words));
  return option;
}

std::optional<int> CommandLine::Parse(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << Help();
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    return UsageError(Describe(e));
  }
  if (print_man_) {
    std::cout << ManPage();
    return 0;
  }
  if (print_completion_) {
    std::cout << BashCompletion();
    return 0;
  }
  if (list_options_) {
    std::cout << OptionNames();
    return 0;
  }
  for (const std::string& extra : app_.remaining()) {
    if (extra == "--") continue;
    if (extra.size() > 1 && extra.front() == '-') {
      return UsageError("unknown option '" + extra + "'");
    }
    return UsageError("unexpected argument '" + extra + "'");
  }
  return std::nullopt;
}

int CommandLine::UsageError(std::string_view message) const {
  std::cerr << doc_.name << ": " << message << "\nTry '" << doc_.name << " --help'.\n";
  return kExitUsageError;
}

std::string CommandLine::Help() const {
  return app_.help();
}

std::vector<const CLI::Option*> CommandLine::VisibleOptions() const {
  return app_.get_options(
      [](const CLI::Option* o) { return o->nonpositional() && !o->get_group().empty(); });
}

std::string CommandLine::OptionNames() const {
  std::string out;
  for (const CLI::Option* o : VisibleOptions()) {
    for (const std::string& s : o->get_snames())
      out += "-" + s + "\n";
    for (const std::string& l : o->get_lnames())
      out += "--" + l + "\n";
  }
  return out;
}

std::string CommandLine::ManPage() const {
  std::string version = TTLOGIN_VERSION;
  std::string out = ".\\\" Generated by `" + doc_.name + " --print-man`; edit the program's " +
                    "option definitions, not this file.\n";
  // No date: the page is rebuilt with every build and must come out byte for byte the same.
  out += ".TH \"" + Upper(doc_.name) + "\" \"" + std::to_string(doc_.man_section) +
         "\" \"\" \"ttlogin" + (version.empty() ? "" : " " + version) + "\" \"ttlogin manual\"\n";
  out += ".SH NAME\n" + Roff(doc_.name) + " \\- " + Roff(doc_.summary) + "\n";
  out += ".SH SYNOPSIS\n.nf\n";
  for (const std::string& s : doc_.synopsis)
    out += "\\fB" + Roff(doc_.name) + "\\fR " + Roff(s) + "\n";
  out += ".fi\n";
  out += ManSection({"", doc_.description, {}}, "DESCRIPTION");
  for (const DocSection& s : doc_.sections)
    out += ManSection(s, s.title);

  out += ".SH OPTIONS\n";
  std::vector<std::string> groups;
  const std::vector<const CLI::Option*> options = VisibleOptions();
  for (const CLI::Option* o : options) {
    if (std::find(groups.begin(), groups.end(), o->get_group()) == groups.end()) {
      groups.push_back(o->get_group());
    }
  }
  for (const std::string& group : groups) {
    if (groups.size() > 1) out += ".SS \"" + Roff(group) + "\"\n";
    for (const CLI::Option* o : options) {
      if (o->get_group() != group) continue;
      out += ".TP\n";
      bool first = true;
      for (const std::string& s : o->get_snames()) {
        out += std::string(first ? "" : ", ") + "\\fB\\-" + Roff(s) + "\\fR";
        first = false;
      }
      for (const std::string& l : o->get_lnames()) {
        out += std::string(first ? "" : ", ") + "\\fB\\-\\-" + Roff(l) + "\\fR";
        first = false;
      }
      if (TakesValue(o)) out += " \\fI" + Roff(o->get_type_name()) + "\\fR";
      out += "\n" + Roff(o->get_description()) + "\n";
    }
  }
  if (!doc_.exit_status.items.empty()) out += ManSection(doc_.exit_status, "EXIT STATUS");
  for (const DocSection& s : doc_.man_only)
    out += ManSection(s, s.title);
  if (!doc_.see_also.empty()) {
    out += ".SH \"SEE ALSO\"\n";
    for (std::size_t i = 0; i < doc_.see_also.size(); ++i) {
      const std::string& ref = doc_.see_also[i];
      const std::size_t paren = ref.find('(');
      out += ".BR " + Roff(ref.substr(0, paren)) + " " +
             (paren == std::string::npos ? "" : ref.substr(paren)) +
             (i + 1 < doc_.see_also.size() ? "," : "") + "\n";
    }
  }
  return out;
}

std::string CommandLine::BashCompletion() const {
  std::string function = "_ttlogin_" + doc_.name;
  std::string words;
  std::string file_options;
  std::string value_options;
  std::string word_cases;
  const std::vector<const CLI::Option*> options = VisibleOptions();
  auto words_of = [&](const CLI::Option* o) -> const std::vector<std::string>* {
    for (const auto& [opt, list] : word_values_) {
      if (opt == o) return &list;
    }
    return nullptr;
  };
  auto join = [](const std::vector<std::string>& list) {
    std::string s;
    for (const std::string& w : list)
      s += (s.empty() ? "" : " ") + w;
    return s;
  };
  for (const CLI::Option* o : options) {
    std::string pattern;
    for (const std::string& s : o->get_snames()) {
      words += " -" + s;
      pattern += (pattern.empty() ? "-" : "|-") + s;
    }
    for (const std::string& l : o->get_lnames()) {
      words += " --" + l;
      pattern += (pattern.empty() ? "--" : "|--") + l;
    }
    if (!TakesValue(o)) continue;
    if (file_values_.contains(o)) {
      file_options += (file_options.empty() ? "" : "|") + pattern;
    } else if (const auto* list = words_of(o)) {
      word_cases += "    " + pattern + ")\n      COMPREPLY=($(compgen -W '" + join(*list) +
                    "' -- \"$cur\"))\n      return\n      ;;\n";
    } else {
      value_options += (value_options.empty() ? "" : "|") + pattern;
    }
  }
  // What a word that is no option completes to: the first positional argument's kind.
  std::string positional = "  COMPREPLY=()\n";
  for (const CLI::Option* o : app_.get_options(
           [](const CLI::Option* p) { return !p->nonpositional() && !p->get_group().empty(); })) {
    if (file_values_.contains(o)) {
      positional = "  compopt -o filenames 2>/dev/null\n  COMPREPLY=($(compgen -f -- \"$cur\"))\n";
    } else if (const auto* list = words_of(o)) {
      positional = "  COMPREPLY=($(compgen -W '" + join(*list) + "' -- \"$cur\"))\n";
    }
    break;
  }

  std::string out = "# bash completion for " + doc_.name + "; generated by `" + doc_.name +
                    " --print-bash-completion` from its option definitions.\n";
  out += function + "() {\n";
  out += "  local cur=${COMP_WORDS[COMP_CWORD]}\n";
  out += "  local prev=\n";
  out += "  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}\n";
  out += "  case $prev in\n";
  if (!file_options.empty()) {
    out += "    " + file_options +
           ")\n      compopt -o filenames 2>/dev/null\n      COMPREPLY=($(compgen -f -- "
           "\"$cur\"))\n      return\n      ;;\n";
  }
  out += word_cases;
  if (!value_options.empty()) {
    // A value the completion cannot guess (a number, an address): offer nothing.
    out += "    " + value_options + ")\n      COMPREPLY=()\n      return\n      ;;\n";
  }
  out += "  esac\n";
  out += "  if [[ $cur == -* ]]; then\n";
  out += "    COMPREPLY=($(compgen -W '" + words.substr(words.empty() ? 0 : 1) +
         "' -- \"$cur\"))\n    return\n  fi\n";
  out += positional;
  out += "}\n";
  out += "complete -F " + function + " " + doc_.name + "\n";
  return out;
}

}  // namespace ttlogin::common
