#!/usr/bin/env bash
# pyvenv.sh — the Python packages Go tests call into, pinned, in the project's
# venv ($PULSESTREAM_LOCAL/venv): http-message-signatures, the independent
# RFC 9421 implementation the gateway's request-signature interop tests sign
# and verify with (services/gateway/app/testdata/hms_interop.py), and requests,
# which services/gateway/README.md's Python signing example (run by a test) uses. `make test`
# runs it before the Go tests; it installs only what is missing.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
venv_package http-message-signatures 3.0.0 "$PULSESTREAM_LOCAL/logs/pyvenv-pip.log"
venv_package requests 2.34.2 "$PULSESTREAM_LOCAL/logs/pyvenv-pip.log"
