#!/usr/bin/env bash
# The paper's latency experiment (Liu et al. 2020, Fig. 3 and Sec. 5.3) over the MPI backend:
# time per iteration and speed-up over one process of CP-OAdam (complete: all-reduce), DP-OAdam
# (ring) and Rand-DP-OAdam (a random ring each iteration), t = 1, one worker per rank (M = P), at
# emulated network latencies 0, 0.1 ms and 1 ms (--net-latency: README.md, "MPI runs"), on
#   star: the synthetic star problem (A diagonal, O(d)), d = 10^6, m = 1 per worker (weak scaling: the work per
#         iteration grows with P, speed-up = P T(1) / T(P), samples per second against P = 1);
#   gan:  the 8-Gaussian MLP GAN, d = 8899, m M = 840 fixed (divisible by P = 1..8; strong scaling:
#         speed-up = T(1) / T(P)).
# T(P) is the algorithm's time per iteration, (Δwall_time_s − Δeval_time_s)/Δk over the second half
# of the run (no start-up, no metric evaluation). Results: OUT/fig3.h5 (one run per point; rank 0
# writes), OUT/fig3.tsv, OUT/fig3-<problem>.png, and a table on stdout.
#
#   bash scripts/fig3-latency.sh [BUILD_DIR [OUT_DIR]]        (defaults: build, fig3-results)
#   PS="1 2 4 8" LATENCIES="0 1e-3" PROBLEMS=gan ALGOS="CP DP" bash scripts/fig3-latency.sh ...
#
# ALGOS (default all five): CP, DP, Rand-DP run Algorithm 1; DP-ov and Rand-DP-ov run --overlap, the
# paper's implementation, whose exchange runs on a second thread while the gradient is computed.
#
# On a machine with fewer cores than P the ranks are oversubscribed (--oversubscribe) and share the
# cores: compute then does not scale with P, and the figure shows how communication and latency
# add to it, not a cluster's speed-up. Each rank runs one OpenMP thread.
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-fig3-results}
DPOSG=$(cd "$BUILD" && pwd)/dposg
PS=${PS:-"1 2 3 4 5 6 7 8"}
LATENCIES=${LATENCIES:-"0 1e-4 1e-3"}
PROBLEMS=${PROBLEMS:-"star gan"}
ALGOS=${ALGOS:-"CP DP Rand-DP DP-ov Rand-DP-ov"}
STAR_ITERS=${STAR_ITERS:-40}
GAN_ITERS=${GAN_ITERS:-200}
MPIRUN=${MPIRUN:-mpirun}
mkdir -p "$OUT"
H5=$OUT/fig3.h5
rm -f "$H5"
root=()
[[ $(id -u) == 0 ]] && root=(--allow-run-as-root)

for problem in $PROBLEMS; do
  if [[ $problem == star ]]; then
    iters=$STAR_ITERS
    opts=(--problem star --coupling-matrix diagonal --dim 1000000 --batch 1 --noise 0.1 --lr 0.01 --init random)
  else
    iters=$GAN_ITERS
    opts=(--problem gan-mog8 --gan-loss ns --gan-width 64 --gan-depth 2 --gan-latent 2 --total-batch 840
          --init problem --lr 1e-4 --lr-v 5e-4 --eval-batch 64)
  fi
  for latency in $LATENCIES; do
    for P in $PS; do
      for algo in $ALGOS; do
        overlap=()
        case $algo in
          CP) topology=complete ;;
          DP) topology=ring ;;
          Rand-DP) topology=random-ring ;;
          DP-ov) topology=ring overlap=(--overlap) ;;
          Rand-DP-ov) topology=random-ring overlap=(--overlap) ;;
          *) echo "ALGOS: unknown '$algo' (CP DP Rand-DP DP-ov Rand-DP-ov)" >&2; exit 2 ;;
        esac
        # One process has no network: its run is the common baseline of the three.
        if [[ $P == 1 ]]; then
          [[ $algo == "${ALGOS%% *}" ]] || continue
          topology=single
          algo=single
          overlap=()
        fi
        name="$problem.$algo.L$latency.P$P"
        printf '%-28s ' "$name" >&2
        "$MPIRUN" "${root[@]}" --oversubscribe -x OMP_NUM_THREADS=1 -np "$P" "$DPOSG" run --backend mpi \
          "${opts[@]}" --workers "$P" --topology "$topology" --rounds 1 --step-rule oadam --beta1 0.5 \
          --beta2 0.9 --iters "$iters" --log-every $((iters / 2)) --net-latency "$latency" "${overlap[@]}" --seed 0 --quiet \
          --out "$H5" --run-name "$name"
        echo done >&2
      done
    done
  done
done

"${PYTHON:-/usr/bin/python3}" - "$H5" "$OUT" <<'EOF'
import sys
import h5py
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

path, out = sys.argv[1], sys.argv[2]
rows = []
with h5py.File(path, "r") as f:
    for name, run in f["runs"].items():
        a, m = run.attrs, run["metrics"]
        it, wall, ev = m["iteration"][:], m["wall_time_s"][:], m["eval_time_s"][:]
        per_iter = ((wall[-1] - ev[-1]) - (wall[-2] - ev[-2])) / (it[-1] - it[-2])
        rows.append(dict(problem=name.split(".")[0], algo=name.split(".")[1], latency=float(a["net_latency_s"]),
                         P=int(a["mpi_ranks"]), t=per_iter, emulated=float(a.get("net_emulated_s", 0.0)),
                         iters=int(it[-1])))

with open(f"{out}/fig3.tsv", "w") as tsv:
    tsv.write("problem\talgorithm\tlatency_s\tP\tseconds_per_iteration\tspeedup\n")
    for problem in sorted({r["problem"] for r in rows}):
        base = {r["latency"]: r["t"] for r in rows if r["problem"] == problem and r["P"] == 1}
        weak = problem == "star"
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        print(f"\n{problem}: seconds per iteration (speed-up over P = 1; "
              f"{'P T(1)/T(P), m = 1 per worker' if weak else 'T(1)/T(P), m M = 840'})")
        lats = sorted({r["latency"] for r in rows if r["problem"] == problem})
        Ps = sorted({r["P"] for r in rows if r["problem"] == problem})
        header = f"{'latency':>8s} {'algorithm':>10s} " + " ".join(f"{'P=' + str(p):>18s}" for p in Ps)
        print(header)
        for li, lat in enumerate(lats):
            for algo, colour in (("CP", "tab:red"), ("DP", "tab:blue"), ("Rand-DP", "tab:green"),
                                 ("DP-ov", "tab:purple"), ("Rand-DP-ov", "tab:olive")):
                if not any(r["algo"] == algo for r in rows if r["problem"] == problem):
                    continue
                xs, ts, ss, cells = [], [], [], []
                for p in Ps:
                    r = next((r for r in rows if r["problem"] == problem and r["latency"] == lat and r["P"] == p
                              and (r["algo"] == algo or p == 1)), None)
                    if r is None or lat not in base:
                        cells.append(f"{'-':>18s}")
                        continue
                    s = (p if weak else 1) * base[lat] / r["t"]
                    xs.append(p), ts.append(r["t"]), ss.append(s)
                    cells.append(f"{r['t'] * 1e3:9.2f} ms ({s:4.2f})")
                    tsv.write(f"{problem}\t{algo}\t{lat:g}\t{p}\t{r['t']:.6g}\t{s:.4g}\n")
                print(f"{lat * 1e3:6.1f}ms {algo:>10s} " + " ".join(cells))
                style = ["-", "--", ":"][li % 3]
                axes[0].plot(xs, np.array(ts) * 1e3, style, marker="o", color=colour,
                             label=f"{algo}, {lat * 1e3:g} ms")
                axes[1].plot(xs, ss, style, marker="o", color=colour, label=f"{algo}, {lat * 1e3:g} ms")
        axes[0].set(xlabel="processes P (= workers M)", ylabel="ms per iteration", yscale="log",
                    title=f"{problem}: time per iteration")
        axes[1].set(xlabel="processes P (= workers M)", ylabel="speed-up over P = 1",
                    title=f"{problem}: speed-up ({'weak' if weak else 'strong'} scaling)")
        for ax in axes:
            ax.grid(True, alpha=0.3)
        axes[1].legend(fontsize=7, ncol=3)
        fig.suptitle("emulated latency (--net-latency), Open MPI, oversubscribed when P > cores", fontsize=9)
        fig.tight_layout()
        fig.savefig(f"{out}/fig3-{problem}.png", dpi=110)
print(f"\nwrote {out}/fig3.tsv and {out}/fig3-*.png; runs in {path}")
EOF
