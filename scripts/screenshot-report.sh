#!/usr/bin/env bash
# Renders an smtpsim HTML report in headless Chromium (Debian's `chromium` package) and saves a
# PNG screenshot, to check the report the way a person sees it.
#   scripts/screenshot-report.sh [SCENARIO…] [-- OUT.png]
# Default: two scenarios of the library, screenshot in ./report.png.
set -euo pipefail
cd "$(dirname "$0")/.."
out=report.png
scenarios=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then out=$2; shift 2; continue; fi
  scenarios+=("$1"); shift
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(Scenarios/command-injection-after-starttls-is-discarded.yaml Scenarios/server-executing-injected-commands-is-caught.yaml)
command -v chromium >/dev/null || { echo "install Chromium first: apt-get install -y chromium" >&2; exit 2; }
html=$(mktemp --suffix=.html)
swift run -c release smtpsim run "${scenarios[@]}" --html "$html" >/dev/null || true
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1300,1800 --screenshot="$PWD/$out" "file://$html" 2>/dev/null
rm -f "$html"
echo "wrote $out"
