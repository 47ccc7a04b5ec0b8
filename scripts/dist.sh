#!/usr/bin/env bash
# Builds the release binaries and lays out what is installed: each binary
# without its debug info, and in `.debug/` beside it a file holding that info
# (linked by .gnu_debuglink, where gdb looks for it). Without it, panic
# backtraces name functions but not lines.
#
#   scripts/dist.sh [OUT_DIR]     # default: dist/
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-dist}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --locked --bin laker-server --bin laker
mkdir -p "$out/.debug"
for bin in laker-server laker; do
  cp "$target/release/$bin" "$out/$bin"
  objcopy --only-keep-debug "$out/$bin" "$out/.debug/$bin.debug"
  objcopy --strip-debug --add-gnu-debuglink="$out/.debug/$bin.debug" "$out/$bin"
  printf '%-14s %6s MB installed, %6s MB debug info\n' "$bin" \
    "$(($(stat -c %s "$out/$bin") / 1048576))" \
    "$(($(stat -c %s "$out/.debug/$bin.debug") / 1048576))"
done
