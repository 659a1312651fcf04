#!/usr/bin/env bash
# Renders a `kubectl residency report -o html` file with headless Chromium (Debian's package,
# installed by hack/tools/chromium.sh when missing) and writes a PNG screenshot of it.
#
#   hack/report-screenshot.sh REPORT.html OUT.png [WIDTHxHEIGHT]
#
# Without arguments it renders the golden report of the CLI's fixture into docs/images/report.png.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
in=${1:-$root/cmd/kubectl-residency/testdata/golden/report.html}
out=${2:-$root/docs/images/report.png}
size=${3:-1000x2600}
chromium=$(bash "$root/hack/tools/chromium.sh")
mkdir -p "$(dirname "$out")"
in_abs=$(cd "$(dirname "$in")" && pwd)/$(basename "$in")
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
# No network: the report is self-contained, and a fetch it tried would fail visibly.
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --host-resolver-rules='MAP * ~NOTFOUND' --window-size="${size/x/,}" \
  --screenshot="$out_abs" "file://$in_abs" 2>/dev/null
echo "$out"
