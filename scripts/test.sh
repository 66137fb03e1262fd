#!/usr/bin/env bash
# The README's test command: installs what is needed, builds every binary (the process-level
# tests start `orderd` and `orderctl`), checks formatting and lints, and runs the whole test
# suite with cargo-nextest. Respects CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo fmt --all -- --check
cargo build --workspace --bins
cargo clippy --workspace --all-targets -- -D warnings
cargo nextest run --workspace --no-fail-fast "$@"
