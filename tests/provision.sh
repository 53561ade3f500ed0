#!/usr/bin/env bash
# Install what the test suite needs on a fresh Debian machine (run as root by .ci/run).
# Idempotent: tools already present are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v lintian >/dev/null 2>&1 || need_apt+=(lintian)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
# The HTML report is rendered in headless Chromium; reports are tested in Europe/Berlin.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -e /usr/share/zoneinfo/Europe/Berlin ] || need_apt+=(tzdata)
# The daemon's wall clock is made to jump under libfaketime (tests/ocpp_clock_daemon.rs).
command -v faketime >/dev/null 2>&1 || need_apt+=(faketime)
if [ ${#need_apt[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# Python peers: the OCPP CSMS used as an independent judge, and the Yocto recipe linter.
python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

# Debian packaging.
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install --quiet --locked cargo-deb --version 3.8.0
fi
