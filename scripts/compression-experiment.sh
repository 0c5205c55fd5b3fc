#!/usr/bin/env bash
# Accuracy against communication for compressed DQGAN and compressed (CHOCO) DPOSG gossip
# (README.md, "Compressed communication"): on the star problem and on the 8-Gaussian mixture GAN,
# every compressor with and without error feedback, into two HDF5 files, the bytes figures
# (busiest node and one worker's uplink), and tables of the final accuracy against the bytes sent.
# About 2 minutes on 2 cores.
#
#   bash scripts/compression-experiment.sh [BUILD_DIR [OUT_DIR]]     (defaults: build, compression-results)
#   WITH_GAN=0 bash scripts/compression-experiment.sh ...            the star problem only
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

GAN_H5=$OUT/compression-gan.h5
rm -f "$GAN_H5"
if [[ "${WITH_GAN:-1}" == 1 ]]; then
  # The MLP GAN on 8 Gaussians (d = 8.8k), M = 4, m M = 256, 3000 iterations, DQGAN whose server
  # steps with optimistic Adam (--step-rule oadam; plain OMD does not train this GAN in 3000
  # iterations at any step size that stays finite). Seeds GAN_SEEDS (default 0 1); ~4 s a run.
  GAN=(--problem gan-mog8 --gan-loss ns --gan-width 64 --gan-depth 2 --gan-latent 2 --workers 4 --total-batch 256
       --init problem --algorithm dqgan --topology complete --step-rule oadam --beta1 0.8 --beta2 0.999
       --lr 3e-4 --lr-v 1.5e-3 --iters 3000 --log-every 150 --eval-batch 256 --quiet --out "$GAN_H5")
  for seed in ${GAN_SEEDS:-0 1}; do
    "$DPOSG" run "${GAN[@]}" --seed "$seed" --run-name "gan.none.s$seed"
    for comp in "top-k --compress-ratio 0.1" "rand-k --compress-ratio 0.1" "sign" "qsgd --qsgd-levels 4"; do
      name=${comp%% *}
      # shellcheck disable=SC2086
      "$DPOSG" run "${GAN[@]}" --seed "$seed" --compressor $comp --run-name "gan.$name.s$seed"
      # shellcheck disable=SC2086
      "$DPOSG" run "${GAN[@]}" --seed "$seed" --compressor $comp --error-feedback --run-name "gan.$name.ef.s$seed"
    done
  done
  "$DPOSG" plot "$GAN_H5" --kind bytes --bytes uplink --out-dir "$OUT/plots-gan"
  "$DPOSG" plot "$GAN_H5" --kind bytes --bytes uplink --metric mmd --logy --out-dir "$OUT/plots-gan"
fi

"$DPOSG" plot "$H5" --kind bytes --out-dir "$OUT/plots"
"$DPOSG" plot "$H5" --kind bytes --bytes uplink --out-dir "$OUT/plots"

"${PYTHON:-/usr/bin/python3}" - "$H5" "$GAN_H5" <<'EOF'
import os
import re
import sys
import h5py
import numpy as np

# final: ||g(z̄_N)||^2; tail: mean over the last quarter; busiest MB: bytes the busiest node sent
# over the run (DQGAN: the server); up MB: one DQGAN worker's uplink (bytes_uplink); "to 1e-4": the
# first logged k with ||g(z̄_k)||^2 <= 1e-4 and the bytes spent until then.
THRESH = 1e-4
with h5py.File(sys.argv[1], "r") as f:
    print("star, d = 100, M = 8, N = 4000")
    print(f"{'run':22s} {'final |g|^2':>11s} {'tail |g|^2':>11s} {'consensus':>10s} {'busiest MB':>10s} "
          f"{'up MB':>8s} {'delta':>6s} {'k to 1e-4':>9s} {'busiest MB':>10s} {'up MB':>8s}")
    for name, run in f["runs"].items():
        a, m = run.attrs, run["metrics"]
        g, it, b = m["grad_norm_sq"][:], m["iteration"][:], m["bytes_busiest"][:]
        up = m["bytes_uplink"][:] if "bytes_uplink" in m else np.full_like(b, np.nan)
        tail = g[len(g) * 3 // 4:].mean()
        hit = np.flatnonzero(g <= THRESH)
        k_hit = int(it[hit[0]]) if hit.size else -1
        b_hit = b[hit[0]] / 1e6 if hit.size else np.nan
        up_hit = up[hit[0]] / 1e6 if hit.size else np.nan
        print(f"{name:22s} {g[-1]:11.3e} {tail:11.3e} {m['consensus_error'][-1]:10.2e} {b[-1] / 1e6:10.4f} "
              f"{up[-1] / 1e6:8.4f} {a.get('compressor_delta', np.nan):6.3f} {k_hit:9d} {b_hit:10.4f} {up_hit:8.4f}")

# The GAN: ||g(z̄)||^2 is a large-batch estimate (it grows while the discriminator sharpens, so it
# is not a quality measure here); MMD to the data, modes covered (of 8) and the fraction of samples
# within 3 standard deviations of a mode (hq) are, as in the paper's Fig. 2.
if os.path.exists(sys.argv[2]):
    with h5py.File(sys.argv[2], "r") as f:
        runs = f["runs"]
        groups = {}
        for name, run in runs.items():
            groups.setdefault(re.sub(r"\.s\d+$", "", name), []).append(run["metrics"])
        print()
        print("gan-mog8, d = %d, M = 4, m M = 256, N = 3000, DQGAN + server OAdam; mean over %d seeds (min-max)"
              % (next(iter(runs.values())).attrs["dim"], len(groups.get("gan.none", []))))
        print(f"{'run':14s} {'|g|^2':>9s} {'final mmd':>20s} {'modes':>7s} {'hq':>13s} {'up MB':>8s} "
              f"{'busiest MB':>10s} {'up / none':>9s}")
        up_none = np.mean([m["bytes_uplink"][-1] for m in groups.get("gan.none", [])]) if "gan.none" in groups else np.nan
        for name, ms in groups.items():
            mmd = np.array([m["mmd"][-1] for m in ms])
            hq = np.array([m["high_quality_fraction"][-1] for m in ms])
            modes = np.mean([m["modes_covered"][-1] for m in ms])
            up = np.mean([m["bytes_uplink"][-1] for m in ms])
            g = np.mean([m["grad_norm_sq"][-1] for m in ms])
            print(f"{name:14s} {g:9.2e} {mmd.mean():8.2e} ({mmd.min():.1e}-{mmd.max():.1e}) {modes:7.1f} "
                  f"{hq.mean():5.3f} ({hq.min():.2f}-{hq.max():.2f}) {up / 1e6:8.3f} "
                  f"{ms[0]['bytes_busiest'][-1] / 1e6:10.1f} {up / up_none:9.4f}")
EOF
echo "figures in $OUT/plots and $OUT/plots-gan; runs in $H5 and $GAN_H5"
