#!/usr/bin/env bash
# A small reproduction of the shape of the paper's Fig. 2 on the 8-Gaussian ring: sample quality
# against training progress for CP-OAdam (complete graph, the all-reduce baseline), DP-OAdam (ring)
# and Rand-DP-OAdam (a fresh random ring every round), M = 16 workers, one gossip round, the total
# batch m*M held at 256 as in the paper, two seeds each. Writes OUT.h5 and OUT-plots/.
#
#   scripts/fig2-mixture.sh [OUT=fig2-mixture] [ITERS=10000]
#
# Epochs do not exist for a generator of fresh samples: x is the iteration (each iteration draws
# 256 new real samples over all workers).
set -euo pipefail
out=${1:-fig2-mixture}
iters=${2:-10000}
dposg=${DPOSG:-"$(dirname "$0")/../build/dposg"}
"$dposg" sweep --grid topology=complete,ring,random-ring --seeds 2 --seed 1 \
  --problem gan-mog8 --gan-loss ns --gan-width 64 --gan-depth 2 --gan-latent 2 \
  --workers 16 --rounds 1 --total-batch 256 --step-rule oadam --beta1 0.8 --beta2 0.999 \
  --lr 1e-4 --lr-v 5e-4 --init problem --iters "$iters" --log-every $((iters / 20)) --eval-batch 64 \
  --out "$out.h5"
for metric in high_quality_fraction modes_covered mmd; do
  "$dposg" plot "$out.h5" --kind metric --metric "$metric" --group-by topology --out-dir "$out-plots"
done
"$dposg" plot "$out.h5" --kind consensus --group-by topology --out-dir "$out-plots"
"$dposg" info "$out.h5"
