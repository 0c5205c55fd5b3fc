#!/usr/bin/env bash
# Accuracy against communication for compressed DQGAN and compressed (CHOCO) DPOSG gossip on the
# star problem (README.md, "Compressed communication"): every compressor with and without error
# feedback into one HDF5 file, the bytes figure, and a table of final ||g(z̄)||^2 against the
# bytes the busiest node sent.
#
#   bash scripts/compression-experiment.sh [BUILD_DIR [OUT_DIR]]     (defaults: build, compression-results)
#   WITH_GAN=1 bash scripts/compression-experiment.sh ...            also one gan-mog8 run, dqgan + top-k + EF
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-compression-results}
DPOSG=$(cd "$BUILD" && pwd)/dposg
mkdir -p "$OUT"
H5=$OUT/compression.h5
rm -f "$H5"

# Shared: star, d = 100, 8 workers, N = 4000, sigma = 0.1, eta = 0.02, log every 20 iterations.
COMMON=(--problem star --dim 100 --workers 8 --iters 4000 --noise 0.1 --lr 0.02 --log-every 20 --seed 0 --quiet --out "$H5")
run() { "$DPOSG" run "${COMMON[@]}" "$@"; }

# DQGAN: parameter server, one uncompressed run and every compressor with and without error feedback.
run --algorithm dqgan --topology complete --run-name dqgan.none
for comp in "top-k --compress-ratio 0.1" "rand-k --compress-ratio 0.1" "sign" "qsgd --qsgd-levels 4"; do
  name=${comp%% *}
  # shellcheck disable=SC2086
  run --algorithm dqgan --topology complete --compressor $comp --run-name "dqgan.$name"
  # shellcheck disable=SC2086
  run --algorithm dqgan --topology complete --compressor $comp --error-feedback --run-name "dqgan.$name.ef"
done

# DPOSG on a ring, t = 1: exact gossip, and CHOCO gossip with each compressor (consensus step gamma).
run --algorithm dposg --topology ring --rounds 1 --run-name dposg.none
for comp in "top-k --compress-ratio 0.1 --gossip-step 0.1" "rand-k --compress-ratio 0.1 --gossip-step 0.1" \
            "sign --gossip-step 0.3" "qsgd --qsgd-levels 4 --gossip-step 0.5"; do
  name=${comp%% *}
  # shellcheck disable=SC2086
  run --algorithm dposg --topology ring --rounds 1 --compressor $comp --run-name "dposg.choco.$name"
done

if [[ "${WITH_GAN:-0}" == 1 ]]; then
  # ~17 s here. Plain optimistic gradient (no Adam) trains this GAN slowly: a smoke run, not a result.
  "$DPOSG" run --problem gan-mog8 --workers 4 --batch 64 --init problem --algorithm dqgan --topology complete \
    --compressor top-k --compress-ratio 0.1 --error-feedback --iters 3000 --lr 0.01 --log-every 500 \
    --eval-batch 1024 --seed 0 --out "$OUT/gan.h5" --run-name gan.dqgan.top-k.ef
fi

"$DPOSG" plot "$H5" --kind bytes --out-dir "$OUT/plots"

"${PYTHON:-/usr/bin/python3}" - "$H5" <<'EOF'
import sys
import h5py
import numpy as np

# final: ||g(z̄_N)||^2; tail: mean over the last quarter; busiest MB: bytes the busiest node sent
# over the run (DQGAN: the server); up MB: one DQGAN worker's uplink; "to 1e-4": the first logged
# k with ||g(z̄_k)||^2 <= 1e-4 and the bytes spent until then.
THRESH = 1e-4
with h5py.File(sys.argv[1], "r") as f:
    print(f"{'run':22s} {'final |g|^2':>11s} {'tail |g|^2':>11s} {'consensus':>10s} {'busiest MB':>10s} "
          f"{'up MB':>8s} {'delta':>6s} {'k to 1e-4':>9s} {'busiest MB':>10s} {'up MB':>8s}")
    for name, run in f["runs"].items():
        a, m = run.attrs, run["metrics"]
        g, it, b = m["grad_norm_sq"][:], m["iteration"][:], m["bytes_busiest"][:]
        tail = g[len(g) * 3 // 4:].mean()
        up = a.get("bytes_uplink_per_iteration", np.nan)
        hit = np.flatnonzero(g <= THRESH)
        k_hit = int(it[hit[0]]) if hit.size else -1
        b_hit = b[hit[0]] / 1e6 if hit.size else np.nan
        up_hit = up * k_hit / 1e6 if hit.size else np.nan
        print(f"{name:22s} {g[-1]:11.3e} {tail:11.3e} {m['consensus_error'][-1]:10.2e} {b[-1] / 1e6:10.4f} "
              f"{up * it[-1] / 1e6:8.4f} {a.get('compressor_delta', np.nan):6.3f} {k_hit:9d} {b_hit:10.4f} {up_hit:8.4f}")
EOF
echo "figures in $OUT/plots; runs in $H5"
