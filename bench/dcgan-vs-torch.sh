#!/usr/bin/env bash
# The dcgan WGAN-GP DPOSG-OAdam step (28 x 28 Fashion-MNIST, width 16, latent 64) of the engine
# (bench_gan --arch dcgan, --device cpu in double and cpu-float in float32) against PyTorch eager
# (bench/dcgan_torch.py, float64 and float32), for M = 1 and M = 16 at m M = 64, one after the other
# in one run, with the load average before and after (the machine may be shared).
#
#   bash bench/dcgan-vs-torch.sh [BUILD_DIR] [ITERS_M1] [ITERS_M16] [THREADS]
set -euo pipefail
build=${1:-build}
iters1=${2:-10}
iters16=${3:-5}
threads=${4:-2}
here=$(cd "$(dirname "$0")" && pwd)
export OMP_NUM_THREADS=$threads
steps() { grep '^steps_per_s' | awk '{print $2}'; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| M | m | engine cpu (double) | engine cpu-float | torch float64 | torch float32 |\n|---|---|---:|---:|---:|---:|\n'
for cfg in "1 64 $iters1" "16 4 $iters16"; do
  read -r M m n <<<"$cfg"
  e64=$("$build/bench/bench_gan" --arch dcgan --workers "$M" --batch "$m" --iters "$n" --threads "$threads" | steps)
  e32=$("$build/bench/bench_gan" --arch dcgan --workers "$M" --batch "$m" --iters "$n" --threads "$threads" \
        --device cpu-float | steps)
  t64=$(/usr/bin/python3 "$here/dcgan_torch.py" --workers "$M" --batch "$m" --iters "$n" --threads "$threads" | steps)
  t32=$(/usr/bin/python3 "$here/dcgan_torch.py" --workers "$M" --batch "$m" --iters "$n" --threads "$threads" \
        --dtype float32 | steps)
  printf '| %s | %s | %s | %s | %s | %s |\n' "$M" "$m" "$e64" "$e32" "$t64" "$t32"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
