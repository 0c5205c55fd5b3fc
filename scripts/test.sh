#!/usr/bin/env bash
# Builds dposg and runs the default test suite (everything but the `slow`, `mpi` and `cuda` labels).
# Slow checks: ctest --test-dir build -L slow
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" -LE 'slow|mpi|cuda'
