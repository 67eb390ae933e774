#!/usr/bin/env bash
# Benchmark smoke run: proves `cargo bench --bench inventory` still works, on a tiny
# configuration (BENCH_SMALL=1, a few seconds once built). It fails only when the bench errors
# (a process fails, a report is wrong); timings and targets are printed, never judged.
set -euo pipefail
cd "$(dirname "$0")/.."

# The bench measures the release binary; build it first (a no-op when it is up to date).
cargo build --release --bin cognigy-warden
BENCH_SMALL=1 cargo bench --bench inventory
