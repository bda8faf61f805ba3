#!/usr/bin/env bash
# Checks that every source file includes only headers of the layers its folder may use
# (docs/ARCHITECTURE.md, "Layers"). The build links each folder's library only with the libraries
# of those layers; this check catches what linking cannot: a header-only use of a layer above.
#
#   scripts/check_layers.sh [ROOT]     # exit 0: clean; 1: each violation printed; 2: usage error
set -euo pipefail

ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
[[ -d $ROOT/server && -d $ROOT/common ]] || { echo "check_layers: no source tree at $ROOT" >&2; exit 2; }
cd "$ROOT"

# folder -> the include prefixes its files may use (besides system and library headers); ORDER
# puts subfolders before their parents: a file belongs to the first folder that is a prefix of its
# path. The registry links nothing; common/splitmix.h is a header-only generator it may share.
declare -A ALLOWED=(
  [common]="common/ IM."
  [server/registry]="server/registry/ common/splitmix.h"
  [server/http]="common/ server/http/"
  [server/net]="common/ server/net/"
  [server/session]="common/ IM. server/registry/ server/http/ server/session/"
  [server/admin]="common/ server/registry/ server/http/ server/session/ server/admin/"
  [server/upgrade]="common/ server/upgrade/"
  [server]="common/ IM. ttlogin_handover. server/"
  [tools/common]="common/ IM. tools/common/"
  [tools/pdu_dump]="common/ IM. tools/common/ tools/pdu_dump/"
  [tools/load_replay]="common/ IM. tools/common/ server/registry/ tools/load_replay/"
  [tools/loadgen]="common/ IM. tools/common/ tools/loadgen/"
  [tools/soak]="common/ IM. tools/common/ tools/soak/"
)
ORDER=(server/registry server/http server/net server/session server/admin server/upgrade server
       tools/common tools/pdu_dump tools/load_replay tools/loadgen tools/soak common)

violations=0
while IFS= read -r file; do
  layer=""
  for folder in "${ORDER[@]}"; do
    if [[ $file == "$folder/"* ]]; then layer=$folder; break; fi
  done
  [[ -n $layer ]] || continue
  while IFS= read -r line; do
    num=${line%%:*}
    header=${line#*:}
    header=${header#*\"}
    header=${header%%\"*}
    # A header next to the file (no folder) is the file's own layer.
    [[ $header == */* || $header == IM.* ]] || continue
    ok=0
    for prefix in ${ALLOWED[$layer]}; do
      if [[ $header == "$prefix"* ]]; then ok=1; break; fi
    done
    if [[ $ok == 0 ]]; then
      echo "$file:$num: includes \"$header\", but $layer/ may use only: ${ALLOWED[$layer]}"
      violations=$((violations + 1))
    fi
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
done < <(git ls-files 'common/*' 'server/*' 'tools/*' 2>/dev/null | grep -E '\.(h|cc)$' ||
         find common server tools -name '*.h' -o -name '*.cc')

if [[ $violations -gt 0 ]]; then
  echo "check_layers: $violations include(s) cross a layer boundary" >&2
  exit 1
fi
echo "check_layers: every include stays within its layer's allowed set"
