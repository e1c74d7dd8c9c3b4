#!/usr/bin/env bash
# The project's test command (README, CI): installs what the tests need from
# Debian, then runs formatting, lint and the whole test suite.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked "$@"
