#!/usr/bin/env bash
# Start-up time of `dposg run` against M (issue #20): for each topology and M in 10^3..10^6, the
# wall and CPU (user + sys) seconds and the peak RSS of a run of `--iters 0` (everything built,
# the first row logged, the file written) and of `--iters ITERS`, then the least-squares slope of
# log(start-up) against log(M) per topology. Prints a markdown table.
#   bash bench/startup-scaling.sh build/dposg [ITERS] [TOPOLOGIES] [MS]
#   DIM=20 NOISE=0 bash bench/startup-scaling.sh ...    (defaults: --dim 2, the problem's --noise;
#                                                      DIM=20 is `dposg run`'s default, the issue's command)
set -euo pipefail
bin=${1:?usage: startup-scaling.sh DPOSG [ITERS] [TOPOLOGIES] [MS]}
iters=${2:-100}
topologies=${3:-"ring torus exponential random-ring"}
ms=${4:-"1000 10000 100000 1000000"}
dim=${DIM:-2}
noise=()
[ -n "${NOISE:-}" ] && noise=(--noise "$NOISE")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
measure() {  # M topology iters -> "wall cpu rss_MB"
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/t" "$bin" run --problem star --dim "$dim" "${noise[@]}" --workers "$1" --topology "$2" \
    --rounds 2 --iters "$3" --log-every 1000000 --quiet --out "$tmp/r.h5" --overwrite >/dev/null
  awk '{printf "%.2f %.2f %.0f\n", $1, $2 + $3, $4 / 1024}' "$tmp/t"
}
echo "| topology | M | start-up wall s (--iters 0) | start-up CPU s | peak MB | --iters $iters wall s | per iteration ms |"
echo "|---|---|---|---|---|---|---|"
for topo in $topologies; do
  : > "$tmp/fit"
  for M in $ms; do
    read -r w0 c0 r0 < <(measure "$M" "$topo" 0)
    read -r wn cn rn < <(measure "$M" "$topo" "$iters")
    per=$(awk -v a="$w0" -v b="$wn" -v n="$iters" 'BEGIN {printf "%.2f", (b - a) / n * 1000}')
    echo "| $topo | $M | $w0 | $c0 | $r0 | $wn | $per |"
    echo "$M $c0" >> "$tmp/fit"
  done
  # Least squares on log-log of the CPU time (the wall time on a shared machine measures the others).
  awk -v t="$topo" '{x = log($1); y = log($2 > 0.005 ? $2 : 0.005); n++; sx += x; sy += y; sxx += x * x; sxy += x * y}
    END {if (n > 1) printf "| %s | slope of log(start-up CPU s) vs log(M): %.2f | | | | | |\n", t, (n * sxy - sx * sy) / (n * sxx - sx * sx)}' "$tmp/fit"
done
