#!/usr/bin/env bash
# One program's command line against its generated documents (common/command_line.h):
#   - --help exits 0 and lists every option the program defines (--list-options);
#   - the generated man page lists every one of them, and groff formats it without a warning;
#   - the generated bash completion, sourced in bash, offers every one of them, and file names
#     after FILE_OPTION;
#   - an unknown option, a missing value and a bad value exit 2 with one line naming the option
#     and a hint to --help.
#
#   cli_test.sh PROGRAM MAN_PAGE COMPLETION FILE_OPTION VALUE_OPTION BAD_VALUE [ARGS...]
# ARGS are added after the bad value (an input, so that only the value is wrong); a BAD_VALUE of
# <empty> is the empty string.
set -uo pipefail

[[ $# -ge 6 ]] || { echo "usage: $0 PROGRAM MAN_PAGE COMPLETION FILE_OPTION VALUE_OPTION BAD_VALUE [ARGS...]" >&2; exit 2; }
program=$1 man_page=$2 completion=$3 file_option=$4 value_option=$5 bad_value=$6
shift 6
[[ $bad_value == "<empty>" ]] && bad_value=""
# The completion runs in a scratch directory: absolute paths.
program=$(realpath -- "$program") man_page=$(realpath -- "$man_page") completion=$(realpath -- "$completion")
name=$(basename "$program")
failures=0
fail() { echo "FAIL ($name): $*"; failures=$((failures + 1)); }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for f in "$program" "$man_page" "$completion"; do
  [[ -s $f ]] || { echo "FAIL ($name): $f is missing or empty (build the cli_docs target)"; exit 1; }
done

mapfile -t options < <("$program" --list-options)
[[ ${#options[@]} -ge 2 ]] || fail "--list-options printed ${#options[@]} names"
printf '%s\n' "${options[@]}" | grep -qx -- --help || fail "--list-options lacks --help"

# --help: exit 0, every option as a word of its own.
"$program" --help >"$work/help" 2>"$work/help.err"
rc=$?
[[ $rc == 0 ]] || fail "--help exited $rc"
[[ -s $work/help.err ]] && fail "--help wrote to stderr: $(cat "$work/help.err")"
for opt in "${options[@]}"; do
  grep -qE -- "(^|[ ,])${opt}([ ,=]|\$)" "$work/help" || fail "--help does not list $opt"
done

# The man page: every option in bold, troff-escaped (\fB\-\-port\fR), and clean under groff.
for opt in "${options[@]}"; do
  troff=${opt//-/\\-}
  grep -qF -- "\\fB${troff}\\fR" "$man_page" || fail "$man_page does not list $opt"
done
grep -q '^\.SH "EXIT STATUS"' "$man_page" || fail "$man_page has no EXIT STATUS"
command -v groff >/dev/null || fail "groff is missing (scripts/bootstrap.sh installs groff-base)"
warnings=$(groff -man -Tutf8 -ww -z "$man_page" 2>&1)
[[ -z $warnings ]] && groff -man -Tutf8 "$man_page" >/dev/null 2>&1 || fail "groff: $warnings"

# The completion, as bash runs it: every option after "-", file names after FILE_OPTION.
complete_words() {  # complete_words WORD... : prints COMPREPLY, one per line
  (cd "$work" && bash -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    "_ttlogin_${COMP_WORDS[0]}"
    printf "%s\n" "${COMPREPLY[@]}"' completion "$completion" "$name" "$@")
}
offered=$(complete_words -)
for opt in "${options[@]}"; do
  grep -qx -- "$opt" <<<"$offered" || fail "the completion does not offer $opt"
done
grep -qx -- --print-man <<<"$offered" && fail "the completion offers the hidden --print-man"
touch "$work/completion-probe.txt"
files=$(complete_words "$file_option" completion-pr)
[[ $files == completion-probe.txt ]] || fail "after $file_option the completion offers '$files', not the file"
bash -c "source '$completion'; complete -p $name" >/dev/null 2>&1 || fail "no 'complete' line for $name"

# Usage errors: exit 2, the option named on the first line, then the hint.
check_usage_error() {  # check_usage_error NEEDLE ARGS...
  local needle=$1
  shift
  "$program" "$@" >"$work/out" 2>"$work/err" </dev/null
  local rc=$?
  [[ $rc == 2 ]] || fail "'$*' exited $rc, not 2"
  head -1 "$work/err" | grep -qF -- "$name: " || fail "'$*': first line does not start '$name: '"
  head -1 "$work/err" | grep -qF -- "$needle" || fail "'$*': first line does not name $needle: $(cat "$work/err")"
  [[ $(wc -l <"$work/err") == 2 ]] || fail "'$*': not two lines on stderr: $(cat "$work/err")"
  grep -qF -- "Try '$name --help'." "$work/err" || fail "'$*': no hint to --help"
  [[ -s $work/out ]] && fail "'$*' wrote to stdout"
}
check_usage_error "--no-such-option" --no-such-option "$@"
check_usage_error "$value_option needs a value" "$value_option"
check_usage_error "$value_option" "$value_option" "$bad_value" "$@"

if [[ $failures -ne 0 ]]; then
  echo "$name: $failures failure(s)"
  exit 1
fi
echo "$name: ${#options[@]} options in --help, the man page and the completion; usage errors exit 2"
