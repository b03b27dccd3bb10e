#!/usr/bin/env bash
# Fails when a tracked file is over 1 MB, unless scripts/bigfiles.allow lists it:
# build outputs are never committed, and fixtures that must be large are named.
set -euo pipefail
cd "$(dirname "$0")/.."
allow=scripts/bigfiles.allow
bad=0
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  size=$(stat -c %s "$f")
  [ "$size" -gt 1048576 ] || continue
  if [ -f "$allow" ] && grep -qxF "$f" "$allow"; then continue; fi
  echo "tracked file over 1 MB (build output? list it in $allow if it is a fixture): $f ($size bytes)" >&2
  bad=1
done < <(git ls-files -z 2>/dev/null)
exit $bad
