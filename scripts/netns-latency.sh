#!/usr/bin/env bash
# Real network latency for the MPI backend on one machine: each rank runs in its own network
# namespace, joined to a bridge in the root namespace by a veth pair whose namespace end has a
# `tc netem` delay, and Open MPI talks TCP over those links (no shared memory), so every message
# between ranks really waits. The emulated alternative is --net-latency (README.md, "MPI runs").
#
#   sudo bash scripts/netns-latency.sh P DELAY -- DPOSG_RUN_OPTIONS...
#   e.g.  sudo bash scripts/netns-latency.sh 4 1ms -- --problem star --workers 4 --topology ring --out r.h5
#
# DELAY is netem's syntax (0ms, 100us, 1ms); it is added on each namespace's egress, so a message
# between two ranks waits DELAY once, and a round trip 2 DELAY. Needs root, iproute2 and the
# kernel's sch_netem (modprobe sch_netem); with DELAY 0ms no qdisc is added (a check of the set-up).
# The namespaces dposg-r0 ... and the bridge dposg-br0 are removed on exit. The run's options go to
# `dposg run --backend mpi`; relative --out paths are taken from the current directory.
set -euo pipefail
if [[ $# -lt 3 || $3 != "--" ]]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
P=$1
DELAY=$2
shift 3
[[ $P =~ ^[1-9][0-9]*$ ]] || { echo "netns-latency: P must be a positive integer, got '$P'" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "netns-latency: needs root (network namespaces, tc)" >&2; exit 2; }
command -v ip >/dev/null || { echo "netns-latency: 'ip' not found (apt-get install iproute2)" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")/.." && pwd)
DPOSG=${DPOSG:-$HERE/build/dposg}
[[ -x $DPOSG ]] || { echo "netns-latency: $DPOSG not built" >&2; exit 2; }
MPIRUN=${MPIRUN:-mpirun}
NET=10.77.0
BR=dposg-br0
WORK=$(mktemp -d)

cleanup() {
  for ((r = 0; r < P; ++r)); do ip netns del "dposg-r$r" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cleanup_before() { for ((r = 0; r < P; ++r)); do ip netns del "dposg-r$r" 2>/dev/null || true; done; ip link del "$BR" 2>/dev/null || true; }
cleanup_before

ip link add "$BR" type bridge
ip addr add "$NET.254/24" dev "$BR"
ip link set "$BR" up
: > "$WORK/hosts"
for ((r = 0; r < P; ++r)); do
  ns=dposg-r$r
  ip netns add "$ns"
  ip link add "dposg-h$r" type veth peer name eth0 netns "$ns"
  ip link set "dposg-h$r" master "$BR" up
  ip -n "$ns" addr add "$NET.$((r + 1))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  if [[ $DELAY != 0 && $DELAY != 0ms && $DELAY != 0us ]]; then
    if ! ip netns exec "$ns" tc qdisc add dev eth0 root netem delay "$DELAY" 2>"$WORK/tc.err"; then
      echo "netns-latency: tc netem failed ($(head -1 "$WORK/tc.err")): the kernel needs sch_netem (modprobe sch_netem)" >&2
      exit 2
    fi
  fi
  echo "$NET.$((r + 1)) slots=1" >> "$WORK/hosts"
done

# mpirun starts its daemon on each "host" through this agent instead of ssh: the host is a
# namespace's address, the command runs inside that namespace.
cat > "$WORK/agent" <<EOF
#!/usr/bin/env bash
# Open MPI calls: agent [ssh options...] HOST COMMAND...
while [[ \$1 == -* ]]; do shift; done
host=\$1; shift
exec ip netns exec "dposg-r\$(( \${host##*.} - 1 ))" /bin/sh -c "\$*"
EOF
chmod +x "$WORK/agent"

root=()
[[ $(id -u) == 0 ]] && root=(--allow-run-as-root)
"$MPIRUN" "${root[@]}" -np "$P" --hostfile "$WORK/hosts" --mca plm_rsh_agent "$WORK/agent" \
  --mca plm_rsh_no_tree_spawn 1 --mca btl tcp,self --mca btl_tcp_if_include "$NET.0/24" \
  --mca oob_tcp_if_include "$NET.0/24" -x OMP_NUM_THREADS=1 --wdir "$(pwd)" \
  "$DPOSG" run --backend mpi "$@"
