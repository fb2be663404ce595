#!/usr/bin/env bash
# Headless Chromium for the dashboard browser tests (tests/AgentFlow.Cli.Tests/DashboardTests.cs): the Debian
# `chromium` package at /usr/bin/chromium, installed with apt-get when missing (run as root). Playwright drives it
# through ExecutablePath and never downloads a browser. Without it the browser tests are skipped and say why.
set -euo pipefail
log() { echo "browser: $*" >&2; }
if [ -x /usr/bin/chromium ]; then
  log "$(/usr/bin/chromium --version 2>/dev/null || echo chromium) at /usr/bin/chromium"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  log "no /usr/bin/chromium and cannot apt-get install it here (needs root and apt-get): the dashboard browser tests will be skipped"
  exit 0
fi
log "installing chromium (apt-get)..."
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium; } >/tmp/agentflow-browser-apt.log 2>&1; then
  log "apt-get install chromium failed (see /tmp/agentflow-browser-apt.log): the dashboard browser tests will be skipped"
  exit 0
fi
log "$(/usr/bin/chromium --version 2>/dev/null || echo chromium) installed at /usr/bin/chromium"
