#!/usr/bin/env bash
# A fixed corpus of runs whose files must stay bit-identical across refactorings (issue #14): every
# problem x topology x step rule, CHOCO gossip, DQGAN, --overlap, MPI at -np 2, the resident engine's
# CPU twin, and a few option paths (theorem step, random start, total batch, cpu-float). Each run
# writes its own file; scripts/golden-dump.py prints every attribute and dataset of all of them
# (bit-exact: doubles as hex) except the wall-clock columns, so two builds compare with diff:
#
#   bash scripts/golden-corpus.sh build/dposg /tmp/before     # on the old commit
#   bash scripts/golden-corpus.sh build/dposg /tmp/after      # on the new one
#   diff /tmp/before/dump.txt /tmp/after/dump.txt
#
# About 3 minutes on 2 cores. QUICK=1 runs a third of the cross product (every row, fewer columns).
set -euo pipefail
bin=$(readlink -f "${1:?usage: golden-corpus.sh DPOSG_BINARY OUTDIR}")
out=${2:?usage: golden-corpus.sh DPOSG_BINARY OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
mkdir -p "$out"
out=$(readlink -f "$out")
rm -f "$out"/*.h5 "$out"/dump.txt
# gan-fashion trains its feature classifier once; keep the cache inside the corpus folder's parent
# so that both builds use the same one.
export HOME=${GOLDEN_HOME:-$(dirname "$out")/golden-home}
mkdir -p "$HOME"
export OMP_NUM_THREADS=2

# Inputs of the file-based problem and topology (deterministic).
$py - "$out" <<'EOF'
import sys, h5py, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(7)
A = rng.standard_normal((5, 5)) / 3
with h5py.File(f"{out}/quad.in", "w") as f:
    f["A"] = A
    f["P"] = np.eye(5) * 0.5
    f["Q"] = np.eye(5) * 0.4
    f["b"] = rng.standard_normal(5)
    f["c"] = rng.standard_normal(5)
M = 4
W = np.full((M, M), 0.0)
for i in range(M):
    W[i, i] = 0.5; W[i, (i + 1) % M] += 0.25; W[(i + 1) % M, i] += 0.25
with h5py.File(f"{out}/w.in", "w") as f:
    f["W"] = W
EOF

n=0
run() {  # run NAME ARGS...: one file per case
  local name=$1
  shift
  n=$((n + 1))
  if ! "$bin" run --quiet --out "$out/$name.h5" --run-name "$name" "$@" > "$out/$name.log" 2>&1; then
    echo "rc=$?" >> "$out/$name.log"
  fi
}

problem_args() {
  case $1 in
    star | bilinear | forsaken) echo "--dim 8 --noise 0.1" ;;
    gaussian-wgan) echo "--dim 4" ;;
    quadratic-file) echo "--problem-file $out/quad.in --noise 0.1" ;;
    gan-mog8 | gan-mog25) echo "--gan-width 8 --gan-depth 1 --batch 4 --eval-batch 32 --init problem --lr 1e-3" ;;
    gan-fashion) echo "--gan-width 8 --gan-depth 1 --gan-downscale 4 --gan-latent 2 --batch 4 --eval-batch 16 --init problem --lr 1e-3" ;;
  esac
}
# The GANs' catalog defaults moved (issue #19: Adam's moments, gan-fashion's latent): the corpus pins
# the values it was recorded with, so that it keeps checking refactorings, not defaults.
gan_oadam_pins() {
  case $1 in gan-*) [ "$2" = oadam ] && echo "--beta1 0.5 --beta2 0.9" ;; esac
}
topology_args() {
  case $1 in
    single) echo "--workers 1" ;;
    file) echo "--workers 4 --topology-file $out/w.in" ;;
    *) echo "--workers 4" ;;
  esac
}

problems="star bilinear gaussian-wgan quadratic-file forsaken gan-mog8 gan-mog25 gan-fashion"
topologies="ring single complete torus exponential random-ring file"
rules="osg oadam extragradient gda"
i=0
for p in $problems; do
  for t in $topologies; do
    for r in $rules; do
      i=$((i + 1))
      if [ "${QUICK:-0}" = 1 ] && [ $((i % 3)) -ne 0 ]; then continue; fi
      iters=30
      case $p in gan-*) iters=6 ;; esac
      # shellcheck disable=SC2046
      run "x-$p-$t-$r" --problem "$p" --topology "$t" --step-rule "$r" --rounds 2 --iters $iters --log-every 3 \
        --seed 3 $(problem_args "$p") $(topology_args "$t") $(gan_oadam_pins "$p" "$r")
    done
  done
done

# Compressed gossip (CHOCO) and DQGAN.
for c in top-k rand-k sign qsgd; do
  k="--compress-ratio 0.5"
  case $c in sign | qsgd) k="" ;; esac
  # shellcheck disable=SC2086
  run "choco-$c" --problem star --dim 8 --workers 4 --topology ring --compressor $c $k --gossip-step 0.4 --iters 40 --log-every 5 --seed 1
  # shellcheck disable=SC2086
  run "choco-rr-$c" --problem bilinear --dim 8 --workers 4 --topology random-ring --step-rule oadam --compressor $c $k --gossip-step 0.4 --iters 40 --log-every 5 --seed 1
  # shellcheck disable=SC2086
  run "dqgan-$c" --algorithm dqgan --problem star --dim 8 --workers 4 --topology complete --compressor $c $k --iters 40 --log-every 5 --seed 1
  # shellcheck disable=SC2086
  run "dqgan-ef-$c" --algorithm dqgan --problem star --dim 8 --workers 4 --topology complete --compressor $c $k --error-feedback --step-rule oadam --iters 40 --log-every 5 --seed 1
done
run dqgan-none --algorithm dqgan --problem bilinear --dim 8 --workers 4 --topology complete --iters 40 --log-every 5
run dqgan-single --algorithm dqgan --problem bilinear --dim 8 --workers 1 --topology single --iters 40 --log-every 5
run dqgan-gan --algorithm dqgan --problem gan-mog8 --gan-width 8 --gan-depth 1 --batch 4 --eval-batch 32 --init problem \
  --lr 1e-3 --workers 4 --topology complete --compressor top-k --compress-ratio 0.3 --error-feedback --iters 6 --log-every 2

# Overlap, every rule; with CHOCO.
for r in $rules; do
  run "overlap-$r" --overlap --problem star --dim 8 --workers 4 --topology ring --step-rule $r --iters 30 --log-every 5 --init random --init-spread 0.5
done
run overlap-choco --overlap --problem star --dim 8 --workers 4 --topology random-ring --compressor sign --gossip-step 0.3 --iters 30 --log-every 5

# Option paths.
run theorem-lr --problem star --dim 8 --workers 8 --topology ring --rounds 3 --lr theorem --iters 50 --log-every 10
run theorem-lr-rr --problem bilinear --dim 8 --workers 8 --topology random-ring --rounds 2 --lr theorem --iters 50 --log-every 10
run init-spread --problem star --dim 8 --workers 8 --topology torus --init random --init-spread 1 --iters 50 --log-every 10
run total-batch --problem star --dim 8 --workers 4 --total-batch 16 --noise 1 --iters 50 --log-every 10
run lr-v --problem bilinear --dim 8 --workers 4 --lr 0.02 --lr-v 0.07 --step-rule oadam --beta1 0.3 --beta2 0.95 --eps 1e-6 --iters 50
run star-diag --problem star --dim 8 --coupling-matrix diagonal --alpha 0.3 --cond 4 --coupling 2 --solution-norm 2 --iters 50
for r in osg oadam; do
  for eng in host resident; do
    run "float-$r-$eng" --problem gan-mog8 --gan-width 8 --gan-depth 1 --batch 4 --eval-batch 32 --init problem --lr 1e-3 \
      --workers 4 --topology ring --step-rule $r --device cpu-float --engine $eng --iters 8 --log-every 2 $(gan_oadam_pins gan-mog8 $r)
    run "float-rr-$r-$eng" --problem gan-mog25 --gan-width 8 --gan-depth 1 --batch 4 --eval-batch 32 --init problem --lr 1e-3 \
      --workers 4 --topology random-ring --step-rule $r --device cpu-float --engine $eng --iters 8 --log-every 2 --gan-loss wgan-gp $(gan_oadam_pins gan-mog25 $r)
  done
done
run gan-clip --problem gan-mog8 --gan-width 8 --gan-depth 1 --batch 4 --eval-batch 32 --init problem --lr 1e-3 --gan-loss wgan-clip --gan-shard --gan-activation tanh --iters 6 --log-every 2

# MPI at -np 2 (skipped where the build has no MPI: the case's log says why).
if command -v mpirun > /dev/null; then
  mpi() {
    local name=$1
    shift
    n=$((n + 1))
    if ! OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np 2 "$bin" run --backend mpi --quiet \
      --out "$out/$name.h5" --run-name "$name" "$@" > "$out/$name.log" 2>&1; then
      echo "rc=$?" >> "$out/$name.log"
    fi
  }
  mpi mpi-ring-osg --problem star --dim 8 --workers 4 --topology ring --iters 30 --log-every 5
  mpi mpi-rr-oadam --problem bilinear --dim 8 --workers 4 --topology random-ring --step-rule oadam --iters 30 --log-every 5
  mpi mpi-choco --problem star --dim 8 --workers 4 --topology ring --compressor top-k --compress-ratio 0.5 --gossip-step 0.5 --iters 30 --log-every 5
  mpi mpi-dqgan --algorithm dqgan --problem star --dim 8 --workers 4 --topology complete --compressor qsgd --error-feedback --iters 30 --log-every 5
  mpi mpi-overlap --overlap --problem star --dim 8 --workers 4 --topology exponential --step-rule extragradient --iters 30 --log-every 5
  mpi mpi-gan --problem gan-mog8 --gan-width 8 --gan-depth 1 --batch 4 --eval-batch 32 --init problem --lr 1e-3 --workers 4 --topology ring --step-rule oadam --beta1 0.5 --beta2 0.9 --iters 6 --log-every 2
fi

rm -f "$out"/*.in
$py "$here/golden-dump.py" "$out" > "$out/dump.txt"
echo "golden corpus: $n runs, dump in $out/dump.txt ($(wc -l < "$out/dump.txt") lines)"
