#!/usr/bin/env bash
# The README's run command: installs the Debian packages, builds the server (Release) and starts it
# on the embedded example config with freshly generated dev certificates. Extra arguments go to
# `revrouter serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
build=${REVROUTER_DEV_BUILD:-build/release}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DREVROUTER_TESTS=OFF -DREVROUTER_BENCH=OFF
cmake --build "$build" --target revrouter -j"$(nproc)"
exec "$build/tools/revrouter" serve --dev "$@"
