// The shared command-line policy: usage errors, --help, and the man page and completion made
// from the same option definitions.
#include "common/command_line.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ttlogin::common {
namespace {

ToolDoc Doc() {
  ToolDoc doc;
  doc.name = "demo";
  doc.summary = "shows the policy";
  doc.synopsis = {"[OPTIONS] FILE..."};
  doc.description = "First paragraph.\n\n.A paragraph that starts with a dot.";
  doc.exit_status = {"Exit codes", "", {{"0", "fine"}, {"2", "usage error"}}};
  doc.see_also = {"login_server(8)", "pdu_dump(1)"};
  return doc;
}

// A small program: a flag, a value with a check, a file option, a word option, positional files.
struct Demo {
  CommandLine cli{Doc()};
  bool verbose = false;
  int count = 0;
  std::string out;
  std::string mode;
  std::vector<std::string> files;

  Demo() {
    CLI::App& app = cli.app();
    app.add_flag("-v,--verbose", verbose, "say more");
    app.add_option_function<std::string>(
           "-n,--count",
           [this](const std::string& v) {
             if (v != "1" && v != "2")
               throw CLI::ValidationError("--count: '" + v + "' is not 1 or 2");
             count = std::stoi(v);
           },
           "how many")
        ->type_name("N");
    cli.Files(app.add_option("--out", out, "where to write")->type_name("FILE"));
    cli.Words(app.add_option("--mode", mode, "fast or slow")->type_name("M")->group("Tuning"),
              {"fast", "slow"});
    cli.Files(app.add_option("FILE", files, "inputs"));
  }

  std::optional<int> Parse(std::vector<std::string> args, std::string* err = nullptr) {
    args.insert(args.begin(), "demo");
    std::vector<char*> argv;
    for (std::string& a : args)
      argv.push_back(a.data());
    testing::internal::CaptureStderr();
    testing::internal::CaptureStdout();
    const std::optional<int> r = cli.Parse(static_cast<int>(argv.size()), argv.data());
    stdout_ = testing::internal::GetCapturedStdout();
    const std::string e = testing::internal::GetCapturedStderr();
    if (err != nullptr) *err = e;
    return r;
  }
  std::string stdout_;
};

TEST(CommandLineTest, ParsedValuesGoOn) {
  Demo d;
  EXPECT_EQ(d.Parse({"-v", "--count", "2", "a", "--out=o.txt", "b"}), std::nullopt);
  EXPECT_TRUE(d.verbose);
  EXPECT_EQ(d.count, 2);
  EXPECT_EQ(d.out, "o.txt");
  EXPECT_EQ(d.files, (std::vector<std::string>{"a", "b"}));
}

TEST(CommandLineTest, ARepeatedOptionMeansItsLastValue) {
  Demo d;
  EXPECT_EQ(d.Parse({"--out", "a", "--out", "b"}), std::nullopt);
  EXPECT_EQ(d.out, "b");
}

TEST(CommandLineTest, UsageErrorsNameTheOptionOnOneLineAndExit2) {
  struct Case {
    std::vector<std::string> args;
    std::string first_line;
  };
  for (const Case& c : std::vector<Case>{{{"--frobnicate"}, "demo: unknown option '--frobnicate'"},
                                         {{"--count"}, "demo: --count needs a value"},
                                         {{"-n"}, "demo: --count needs a value"},
                                         {{"--count", "7"}, "demo: --count: '7' is not 1 or 2"},
                                         {{"--count=x"}, "demo: --count: 'x' is not 1 or 2"}}) {
    Demo d;
    std::string err;
    EXPECT_EQ(d.Parse(c.args, &err), kExitUsageError) << c.first_line;
    EXPECT_EQ(err, c.first_line + "\nTry 'demo --help'.\n");
    EXPECT_TRUE(d.stdout_.empty());
  }
  Demo d;
  testing::internal::CaptureStderr();
  EXPECT_EQ(d.cli.UsageError("--out and --mode exclude each other"), kExitUsageError);
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "demo: --out and --mode exclude each other\nTry 'demo --help'.\n");
}

TEST(CommandLineTest, AnArgumentAProgramWithoutPositionalsCannotTakeIsNamed) {
  CommandLine cli(Doc());
  char name[] = "demo";
  char extra[] = "stray";
  char* argv[] = {name, extra};
  testing::internal::CaptureStderr();
  EXPECT_EQ(cli.Parse(2, argv), kExitUsageError);
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "demo: unexpected argument 'stray'\nTry 'demo --help'.\n");
}

TEST(CommandLineTest, HelpListsUsageOptionsGroupsAndExitCodes) {
  Demo d;
  EXPECT_EQ(d.Parse({"--help"}), 0);
  const std::string& help = d.stdout_;
  EXPECT_EQ(help.rfind("Usage: demo [OPTIONS] FILE...\n", 0), 0u) << help;
  for (const char* needle :
       {"  -v, --verbose", "  -n, --count N", "  --out FILE", "Tuning:", "  --mode M",
        "  -h, --help", "Exit codes:\n  0  fine", "  2  usage error"}) {
    EXPECT_NE(help.find(needle), std::string::npos) << needle << "\n" << help;
  }
  EXPECT_EQ(help.find("--print-man"), std::string::npos) << "hidden options stay hidden";
  for (std::size_t pos = 0, eol = 0; pos < help.size(); pos = eol + 1) {
    eol = help.find('\n', pos);
    EXPECT_LE(eol - pos, 79u) << help.substr(pos, eol - pos);
  }
}

TEST(CommandLineTest, ManPageListsEveryVisibleOptionAndEscapesTroff) {
  Demo d;
  EXPECT_EQ(d.Parse({"--print-man"}), 0);
  const std::string& man = d.stdout_;
  EXPECT_NE(man.find(".TH \"DEMO\" \"1\""), std::string::npos);
  EXPECT_NE(man.find(".SH NAME\ndemo \\- shows the policy\n"), std::string::npos);
  for (const char* needle :
       {"\\fB\\-v\\fR, \\fB\\-\\-verbose\\fR\n", "\\fB\\-n\\fR, \\fB\\-\\-count\\fR \\fIN\\fR\n",
        "\\fB\\-\\-out\\fR \\fIFILE\\fR\n", ".SS \"Tuning\"", "\\fB\\-h\\fR, \\fB\\-\\-help\\fR",
        ".SH \"EXIT STATUS\"\n.TP\n\\fB0\\fR\nfine\n", "\\&.A paragraph",
        ".BR login_server (8),\n.BR pdu_dump (1)\n"}) {
    EXPECT_NE(man.find(needle), std::string::npos) << needle << "\n" << man;
  }
  EXPECT_EQ(man.find("print\\-man"), std::string::npos);
  EXPECT_EQ(man.find("list\\-options"), std::string::npos);
}

TEST(CommandLineTest, ListOptionsNamesEveryVisibleOption) {
  Demo d;
  EXPECT_EQ(d.Parse({"--list-options"}), 0);
  EXPECT_EQ(d.stdout_, "-h\n--help\n-v\n--verbose\n-n\n--count\n--out\n--mode\n");
}

TEST(CommandLineTest, CompletionKnowsOptionsFilesAndWords) {
  Demo d;
  EXPECT_EQ(d.Parse({"--print-bash-completion"}), 0);
  const std::string& c = d.stdout_;
  EXPECT_NE(c.find("compgen -W '-h --help -v --verbose -n --count --out --mode'"),
            std::string::npos)
      << c;
  EXPECT_NE(c.find("    --out)\n      compopt -o filenames"), std::string::npos) << c;
  EXPECT_NE(c.find("    --mode)\n      COMPREPLY=($(compgen -W 'fast slow'"), std::string::npos)
      << c;
  EXPECT_NE(c.find("    -n|--count)\n      COMPREPLY=()"), std::string::npos) << c;
  EXPECT_NE(c.find("complete -F _ttlogin_demo demo\n"), std::string::npos);
}

TEST(CommandLineTest, WrapTextKeepsToTheWidthAndIndents) {
  EXPECT_EQ(WrapText("aaa bbb ccc ddd", 2, 9), "aaa bbb\n  ccc ddd");
  EXPECT_EQ(WrapText("one\n\ntwo", 0, 79), "one\n\ntwo");
  EXPECT_EQ(WrapText("averyveryverylongword x", 0, 5), "averyveryverylongword\nx");
}

}  // namespace
}  // namespace ttlogin::common
