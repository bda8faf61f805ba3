#!/usr/bin/env bash
# Checks that a binary carries the hardening the build asks for: PIE, full RELRO (GNU_RELRO plus
# BIND_NOW), a non-executable stack, stack protector and _FORTIFY_SOURCE checks. Prints one line
# per property; exits 1 if any is missing.
set -eu
bin=$1
header=$(readelf -h "$bin")
segments=$(readelf -lW "$bin")
dynamic=$(readelf -dW "$bin")
symbols=$(nm -D "$bin")
fail=0
check() {
  if grep -Eq "$3" <<<"$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
check "PIE" "$header" 'DYN \(Position-Independent Executable'
check "RELRO segment" "$segments" 'GNU_RELRO'
check "BIND_NOW (full RELRO)" "$dynamic" 'BIND_NOW|Flags:.* NOW'
check "non-executable stack" "$segments" 'GNU_STACK.* RW  '
check "stack protector" "$symbols" '__stack_chk_fail'
check "_FORTIFY_SOURCE" "$symbols" '__[a-z]+_chk@'
exit $fail
