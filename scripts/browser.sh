#!/usr/bin/env bash
# The browser the web-view tests drive: Debian's headless Chromium (package
# chromium, installed with apt-get when /usr/bin/chromium is missing) and
# playwright-core from npm (pinned in crates/veil-tlog-http/tests/browser/
# package-lock.json), which drives it without downloading a browser of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
    || { $sudo apt-get update >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
cd crates/veil-tlog-http/tests/browser
npm ci --no-audit --no-fund --loglevel=error
