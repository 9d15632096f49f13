#!/usr/bin/env bash
# chromium.sh — install Debian's Chromium and ChromeDriver for the console's
# browser tests (services/query/internal/console), the way the other tools are
# installed: from Debian's packages, only when missing. The tests start it
# headless themselves (flags in consoletest); nothing runs after this script.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_install chromium chromium-driver
