#!/usr/bin/env bash
# The shape of the paper's Fig. 2 on Fashion-MNIST (14 x 14): the Fréchet distance in the
# project's classifier features (fd_classifier, not FID) against epochs for CP-OAdam (complete),
# DP-OAdam (ring) and Rand-DP-OAdam (random-ring), M = 16 workers, total batch m*M = 256 as in the
# paper, one gossip round. Writes OUT.h5 and OUT-plots/.
#
#   scripts/fig2-fashion.sh [OUT=fig2-fashion] [ITERS=2400] [SEEDS=1]
#
# One epoch = 60,000 / 256 = 234.4 iterations; the default 2400 iterations are about 10 epochs.
set -euo pipefail
out=${1:-fig2-fashion}
iters=${2:-2400}
seeds=${3:-1}
dposg=${DPOSG:-"$(dirname "$0")/../build/dposg"}
"$dposg" sweep --grid topology=complete,ring,random-ring --seeds "$seeds" --seed 1 \
  --problem gan-fashion --gan-downscale 2 --gan-loss ns --gan-width 256 --gan-depth 2 --gan-latent 32 \
  --workers 16 --rounds 1 --total-batch 256 --step-rule oadam --beta1 0.5 --beta2 0.999 \
  --lr 2e-4 --lr-v 2e-4 --init problem --iters "$iters" --log-every $((iters / 12)) --eval-batch 16 \
  --out "$out.h5"
for metric in fd_classifier classes_covered; do
  "$dposg" plot "$out.h5" --kind metric --metric "$metric" --group-by topology --out-dir "$out-plots"
done
"$dposg" plot "$out.h5" --kind samples --out-dir "$out-plots"
"$dposg" info "$out.h5"
echo "x axis: iteration; epochs = iteration * 256 / 60000"
