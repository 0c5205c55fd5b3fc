#!/usr/bin/env bash
# Builds dposg and runs the default test suite (everything but the `slow` and `cuda` labels; the
# `mpi` tests run mpirun as root with --allow-run-as-root and report 'not built' without MPI).
# Slow checks: ctest --test-dir build -L slow
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" -LE 'slow|cuda'
