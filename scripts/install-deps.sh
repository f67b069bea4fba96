#!/usr/bin/env bash
# Installs, with apt-get, whatever cube needs that this Debian 12 machine lacks, and nothing else.
# Idempotent: a second run finds everything and installs nothing. Needs root (or sudo) only when
# something is missing. Used by scripts/test.sh and scripts/run.sh.
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build gcc g++ pkg-config
  # LLVM/MLIR 22: headers, libMLIR/libLLVM, the static C-API wrappers, mlir-opt/FileCheck/lit
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  # JSON (plan files, summaries, safetensors headers)
  libjansson-dev
  # tests: lit runs on python3; the Python package is tested with pytest; numerics against PyTorch
  python3 python3-pytest python3-numpy python3-torch
  # loss-curve PNGs (python3 -m cube plot; a built-in plotter is used when it is missing)
  python3-matplotlib
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: missing ${#missing[@]} package(s): ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-deps: error: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: error: apt-get not found; cube expects Debian 12 (bookworm). Install by hand: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: apt-get update"
if ! $SUDO apt-get update -qq; then
  echo "install-deps: error: 'apt-get update' failed (network or sources.list?)" >&2
  exit 1
fi
echo "install-deps: apt-get install ${missing[*]}"
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/cube-install-deps.log 2>&1; then
  tail -20 /tmp/cube-install-deps.log >&2
  echo "install-deps: error: apt-get install failed (log: /tmp/cube-install-deps.log). LLVM/MLIR 22 packages" \
       "come from Debian's bookworm-security/backports archive; check that it is in sources.list." >&2
  exit 1
fi
echo "install-deps: done"
