#!/usr/bin/env bash
# The paper's Fig. 2 at the convolutional scale (issue #17): WGAN-GP DCGAN (--gan-arch dcgan) on
# full-size Fashion-MNIST (28 x 28 in a 32 x 32 canvas), CP-OAdam (complete), DP-OAdam (ring) and
# Rand-DP-OAdam (random-ring), M = 16 workers, total batch m*M = 256, one gossip round;
# is_classifier at z̄ and its band over 4 workers (is_classifier_min / _max, --eval-workers 4)
# against iterations, plus fd_classifier and kid_classifier (all in the project's conv
# classifier's features: not Inception's). Writes OUT.h5 and OUT-plots/.
#
#   scripts/fig2-conv.sh [OUT=fig2-conv] [ITERS=2800] [WIDTH=8] [SEEDS=1]
#
# Sized for about 30 minutes on 2 CPU cores: width 8 (d = 54,130), 2800 iterations = 12 epochs
# (one epoch = 60,000 / 256 = 234.4 iterations). 700 iterations (3 epochs) took 7 min 0 s on 2
# quiet cores (2026-12-02), and the cost is linear in the iterations.
# The paper's full size: --gan-width 64 --gan-latent 128 (1.84 M parameters, 7.4 MB in float32, for
# Fashion-MNIST's one channel and CIFAR-10's three alike; the paper's model is 8.36 MB); on GPUs,
# one rank per GPU through mpirun with NCCL gossip:
#   mpirun -np 16 build/dposg run --backend mpi --exchange nccl --device cuda ...   (the same options)
# (the batched float32 conv operator, gan/cuda/batched_conv.hpp: compiled for sm_90 and tested
# against its host twin here, never yet run on a GPU).
set -euo pipefail
out=${1:-fig2-conv}
iters=${2:-2800}
width=${3:-8}
seeds=${4:-1}
dposg=${DPOSG:-"$(dirname "$0")/../build/dposg"}
"$dposg" sweep --grid topology=complete,ring,random-ring --seeds "$seeds" --seed 1 \
  --problem gan-fashion --gan-downscale 1 --gan-arch dcgan --gan-loss wgan-gp --gan-width "$width" \
  --gan-latent 64 --gan-activation leaky-relu \
  --workers 16 --rounds 1 --total-batch 256 --step-rule oadam --beta1 0.5 --beta2 0.9 \
  --lr 2e-4 --init problem --iters "$iters" --log-every $((iters / 7)) --eval-batch 4 --eval-workers 4 \
  --out "$out.h5"
# Fig. 2's own figure: is_classifier at z̄ against epochs, each curve in its band over 4 workers.
"$dposg" plot "$out.h5" --kind metric --metric is_classifier --band --x epochs --group-by topology --out-dir "$out-plots"
for metric in fd_classifier kid_classifier; do
  "$dposg" plot "$out.h5" --kind metric --metric "$metric" --x epochs --group-by topology --out-dir "$out-plots"
done
"$dposg" plot "$out.h5" --kind samples --out-dir "$out-plots"
"$dposg" info "$out.h5"
