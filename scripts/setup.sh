#!/usr/bin/env bash
# Installs what building and testing orderstore needs on a fresh Debian 12 machine:
# clang/libclang (RocksDB's bindings), protoc (gRPC code generation), iproute2/iptables (the
# chaos suite), faketime (its clock nemesis), fuse3 (its lost-writes filesystem) and
# cargo-nextest (the test runner).
# Idempotent: installs only what is missing.
set -euo pipefail

need_pkgs=()
for pkg in clang libclang-dev protobuf-compiler iproute2 iptables pkg-config faketime fuse3; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo (Rust 1.88+) is required; install it with rustup first" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install cargo-nextest --locked
fi
