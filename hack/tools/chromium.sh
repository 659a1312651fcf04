#!/usr/bin/env bash
# Installs Debian's chromium package when no chromium is on PATH, for the test that renders the
# report's HTML headless (cmd/kubectl-residency, TestReportHTMLInChromium) and for
# hack/report-screenshot.sh. Chromium needs some hundred shared libraries, so it is installed as a
# package with its dependencies rather than unpacked into the tool cache. Needs root (CI and the
# development machines run as root). Prints the binary's path.
set -euo pipefail

if bin=$(command -v chromium); then
  echo "$bin"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium is missing and installing it needs root: apt-get install chromium" >&2
  exit 1
fi
printf '[tools] installing Debian chromium (first run on this machine only)\n' >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends chromium >/dev/null
fi
command -v chromium
