#!/usr/bin/env bash
# The report test renders the HTML report in headless Chromium (Debian's package; no browser
# download). Install it when missing, where this user may use apt-get.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "headless Chromium is needed for the report test: sudo apt-get install chromium" >&2
  exit 1
fi
