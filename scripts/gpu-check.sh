#!/usr/bin/env bash
# gpu-check.sh: the one prepared command for a machine with a GPU (issue #21). Such a machine has the
# CUDA toolkit and PyTorch but none of our Debian libraries, so it runs from a device bundle: the
# executables and the libraries they need, packed by shared/tools/device-bundle, e.g.
#
#   ../shared/tools/device-bundle build .device \
#     '^(test_gan_cuda|test_array_backends_cuda|test_nccl_one_gpu|test_mpi_gpu|bench_gan|dposg)$'
#   bash scripts/gpu-check.sh .device            # on the GPU machine, from the repository root
#
# In order, stopping at the first failure with the command that failed (exit 1):
#   1. the driver and the device (nvidia-smi);
#   2. every module and test executable resolves its libraries (ldd: no "not found");
#   3. the CUDA tests with DPOSG_REQUIRE_CUDA=1, so that a skip (exit 77) is a failure;
#   4. the same again under compute-sanitizer memcheck, initcheck and racecheck, where the tool exists
#      ("not available" otherwise, not a failure);
#   5. the one-rank NCCL test, and test_mpi_gpu where mpiexec exists;
#   6. the GPU benchmarks: bench_gan (host engine with the GPU operator, resident engine) against
#      bench/gan_torch.py --device cuda --dtype float32 on the same GPU, M = 1, 8, 64.
# It writes one markdown summary, gpu-check-summary.md, and a log per step into OUT_DIR (default $OUT,
# else ./gpu-check-out), also when it stops early. Every step has its own timeout and all of them
# share a budget (GPU_CHECK_BUDGET_S, default 480 s), so the whole check ends well inside 10 minutes.
#
#   bash scripts/gpu-check.sh BUNDLE_DIR [OUT_DIR]
#
# Every external command goes through $GPU_CHECK_RUNNER (a command prefix, empty by default) and the
# tools are looked up on PATH or named by the variables below, so that tests/test_gpu_check.cpp runs
# the whole check on a CPU with fake nvidia-smi, ldd, compute-sanitizer, python3 and test binaries.
#   CUDA_HOME                      /usr/local/cuda (its lib64 and lib go on LD_LIBRARY_PATH)
#   GPU_CHECK_NVIDIA_SMI           nvidia-smi
#   GPU_CHECK_COMPUTE_SANITIZER    compute-sanitizer on PATH, else $CUDA_HOME/bin/compute-sanitizer
#   GPU_CHECK_PYTHON               python3
#   GPU_CHECK_MPIEXEC              /usr/bin/mpiexec (the path the tests were built with)
#   GPU_CHECK_LIBRARY_PATH         more library folders, e.g. PyTorch's NCCL, before the toolkit's
#   GPU_CHECK_SANITIZE_TESTS       the Catch2 test spec run under the sanitizers (default: the operator
#                                  of every loss x activation and the resident engine)
#   GPU_CHECK_TEST_TIMEOUT_S (120) GPU_CHECK_SANITIZER_TIMEOUT_S (90) GPU_CHECK_BENCH_TIMEOUT_S (40)
set -uo pipefail

usage() { echo "usage: bash scripts/gpu-check.sh BUNDLE_DIR [OUT_DIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
bundle=$(cd "$1" 2>/dev/null && pwd) || { echo "gpu-check: no bundle folder '$1'" >&2; exit 2; }
out=${2:-${OUT:-$PWD/gpu-check-out}}
mkdir -p "$out/logs" || exit 2
out=$(cd "$out" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
summary=$out/gpu-check-summary.md

read -r -a runner <<<"${GPU_CHECK_RUNNER:-}"
cuda_home=${CUDA_HOME:-/usr/local/cuda}
nvidia_smi=${GPU_CHECK_NVIDIA_SMI:-nvidia-smi}
sanitizer=${GPU_CHECK_COMPUTE_SANITIZER:-$(command -v compute-sanitizer || echo "$cuda_home/bin/compute-sanitizer")}
python=${GPU_CHECK_PYTHON:-python3}
mpiexec=${GPU_CHECK_MPIEXEC:-/usr/bin/mpiexec}
sanitize_tests=${GPU_CHECK_SANITIZE_TESTS:-gan cuda: G on the GPU equals the CPU operator*,gan cuda: the resident engine*}
test_timeout=${GPU_CHECK_TEST_TIMEOUT_S:-120}
sanitizer_timeout=${GPU_CHECK_SANITIZER_TIMEOUT_S:-90}
bench_timeout=${GPU_CHECK_BENCH_TIMEOUT_S:-40}
budget=${GPU_CHECK_BUDGET_S:-480}

# The bundle's libraries first, then the toolkit's (cudart, cuBLAS, NCCL are not packed).
export LD_LIBRARY_PATH="$bundle/lib${GPU_CHECK_LIBRARY_PATH:+:$GPU_CHECK_LIBRARY_PATH}:$cuda_home/lib64:$cuda_home/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# A GPU is known to be here: any skip of a CUDA test is a failure (tests/cuda_gate.hpp).
export DPOSG_REQUIRE_CUDA=1

rows=()        # the summary's step rows
bench_rows=()  # M | host | resident | torch
started=$SECONDS

write_summary() {  # $1: the verdict line
  {
    echo "# gpu-check $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "$1"
    echo
    echo "| step | result | s | command | note |"
    echo "|---|---|---:|---|---|"
    printf '%s\n' "${rows[@]}"
    if [ ${#bench_rows[@]} -gt 0 ]; then
      echo
      echo "DPOSG-OAdam steps/s, MLP GAN (bench_gan against bench/gan_torch.py --dtype float32, one GPU):"
      echo
      echo "| M | engine host (GPU operator) | engine resident | torch float32 | resident / torch |"
      echo "|---:|---:|---:|---:|---:|"
      printf '%s\n' "${bench_rows[@]}"
    fi
  } >"$summary"
}

# A table cell: one line, no '|'.
cell() { printf '%s' "$*" | tr '\n|' ' /' | cut -c1-200; }

row() { rows+=("| $(cell "$1") | $2 | $3 | \`$(cell "$4")\` | $(cell "${5:-}") |"); }

failed=""
stop() {  # $1 step, $2 command, $3 why, $4 log
  failed=$1
  row "$1" "**FAILED**" "$5" "$2" "$3"
  echo
  echo "gpu-check: FAILED at '$1': $3"
  echo "gpu-check: the command that failed: $2"
  if [ -n "${4:-}" ] && [ -s "$4" ]; then
    echo "gpu-check: last lines of $4:"
    tail -n 40 "$4" | sed 's/^/    /'
  fi
  write_summary "**FAILED** at '$1': $3. Not run: everything after it."
  echo "gpu-check: summary in $summary"
  exit 1
}

# run_step NAME TIMEOUT CMD...: runs CMD through the runner under a timeout cut to what is left of
# the budget, its output in logs/; stops the check unless it exits 0. Sets step_log.
step_log=""
run_step() {
  local name=$1 limit=$2
  shift 2
  local text
  text=$(printf '%q ' "$@")
  text=${text% }
  step_log="$out/logs/$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_').log"
  local left=$((budget - (SECONDS - started)))
  [ "$left" -ge 5 ] || stop "$name" "$text" "the budget of ${budget} s (GPU_CHECK_BUDGET_S) is spent" "" 0
  [ "$limit" -le "$left" ] || limit=$left
  echo "== $name: $text"
  local t0=$SECONDS rc
  timeout --kill-after=10 "$limit" "${runner[@]}" "$@" >"$step_log" 2>&1
  rc=$?
  step_seconds=$((SECONDS - t0))
  case $rc in
    0) return 0 ;;
    124 | 137) stop "$name" "$text" "timed out after ${limit} s" "$step_log" "$step_seconds" ;;
    77) stop "$name" "$text" "exit 77: the test skipped, a failure under DPOSG_REQUIRE_CUDA=1" "$step_log" "$step_seconds" ;;
    *) stop "$name" "$text" "exit $rc" "$step_log" "$step_seconds" ;;
  esac
}

# The "SKIPPED: ..." lines a passing test printed (a case it could not run here, e.g. two GPUs).
skipped_note() { grep -h '^SKIPPED:' "$step_log" 2>/dev/null | head -n 3 | tr '\n' ' '; }

# 1. Preflight: the bundle holds what the steps run.
bin=$bundle/bin
for f in test_gan_cuda test_nccl_one_gpu bench_gan libdposg_gan_cuda.so libdposg_nccl.so; do
  [ -e "$bin/$f" ] || stop "bundle" "test -e $bin/$f" "the bundle has no bin/$f (pack it with shared/tools/device-bundle)" "" 0
done
row "bundle" ok 0 "$bundle" "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

# 2. Driver and device.
run_step "driver and device" 30 "$nvidia_smi"
cat "$step_log"
run_step "driver and device (query)" 30 "$nvidia_smi" --query-gpu=name,driver_version,memory.total --format=csv,noheader
device=$(head -n 1 "$step_log")
row "driver and device" ok "$step_seconds" "$nvidia_smi --query-gpu=name,driver_version,memory.total" "$device"

# 3. Libraries: ldd through the bundle's LD_LIBRARY_PATH, as the tests will load them.
for f in libdposg_gan_cuda.so libdposg_nccl.so test_gan_cuda test_nccl_one_gpu bench_gan; do
  run_step "libraries of $f" 30 ldd "$bin/$f"
  if grep -q 'not found' "$step_log"; then
    stop "libraries of $f" "ldd $bin/$f" "unresolved: $(grep 'not found' "$step_log" | awk '{print $1}' | tr '\n' ' ')(set GPU_CHECK_LIBRARY_PATH to the folders that hold them; PyTorch's wheels keep NCCL in site-packages/nvidia/nccl/lib; a libcudart of another major version means the toolkit here is not the one the bundle was built with)" \
      "$step_log" "$step_seconds"
  fi
  row "libraries of $f" ok "$step_seconds" "ldd $bin/$f" "$(grep -c '=>' "$step_log") libraries"
done

# 4. The CUDA tests, plain.
run_step "test_gan_cuda" "$test_timeout" "$bin/test_gan_cuda"
row "test_gan_cuda" ok "$step_seconds" "DPOSG_REQUIRE_CUDA=1 $bin/test_gan_cuda" "$(skipped_note)"
# The step rules and mixing over the GPU's arrays against hand-written recurrences, state included
# (tests/test_array_backends_cuda.cpp), where the bundle has it.
if [ -x "$bin/test_array_backends_cuda" ]; then
  run_step "test_array_backends_cuda" "$test_timeout" "$bin/test_array_backends_cuda"
  row "test_array_backends_cuda" ok "$step_seconds" "DPOSG_REQUIRE_CUDA=1 $bin/test_array_backends_cuda" "$(skipped_note)"
fi

# 5. Under compute-sanitizer: kernels out of bounds (memcheck), reads of uninitialised device memory
# (initcheck), shared-memory races (racecheck). NCCL's own kernels are left out: the sanitizer
# does not support NCCL's inter-process transports and reports inside them say nothing of ours.
for tool in memcheck initcheck racecheck; do
  if [ -x "$sanitizer" ] || command -v "$sanitizer" >/dev/null 2>&1; then
    run_step "compute-sanitizer $tool" "$sanitizer_timeout" "$sanitizer" --tool "$tool" --error-exitcode 1 \
      "$bin/test_gan_cuda" "$sanitize_tests"
    row "compute-sanitizer $tool" ok "$step_seconds" "$sanitizer --tool $tool --error-exitcode 1 test_gan_cuda '$sanitize_tests'" \
      "$(grep -h 'ERROR SUMMARY' "$step_log" | tail -n 1)"
  else
    row "compute-sanitizer $tool" "not available" 0 "$sanitizer" "no compute-sanitizer here (CUDA_HOME=$cuda_home)"
  fi
done

# 6. NCCL on this GPU: the one-rank communicator; two ranks where mpiexec exists.
run_step "test_nccl_one_gpu" "$test_timeout" "$bin/test_nccl_one_gpu"
row "test_nccl_one_gpu" ok "$step_seconds" "DPOSG_REQUIRE_CUDA=1 $bin/test_nccl_one_gpu" "$(skipped_note)"
if [ ! -e "$bin/test_mpi_gpu" ]; then
  row "test_mpi_gpu" "not available" 0 "$bin/test_mpi_gpu" "not in the bundle"
elif [ -x "$mpiexec" ] || command -v "$mpiexec" >/dev/null 2>&1; then
  run_step "test_mpi_gpu" "$test_timeout" "$bin/test_mpi_gpu"
  row "test_mpi_gpu" ok "$step_seconds" "DPOSG_REQUIRE_CUDA=1 $bin/test_mpi_gpu" "$(skipped_note)"
else
  row "test_mpi_gpu" "not available" 0 "$mpiexec" "no mpiexec here: the MPI ranks on the GPU are not checked"
fi

# 7. Benchmarks. bench_gan prints `steps_per_s V`, as does gan_torch.py.
steps_per_s() { awk '/^steps_per_s /{v=$2} END{if (v == "") exit 1; print v}' "$step_log"; }
iters_for() { case $1 in 1) echo 200 ;; 8) echo 100 ;; *) echo 40 ;; esac; }
# --engine without a value: "missing value" where bench_gan has the option, "unknown option" where not.
timeout 30 "${runner[@]}" "$bin/bench_gan" --engine >"$out/logs/bench_gan_engine_probe.log" 2>&1
engine_flag=yes
if grep -q 'unknown option --engine' "$out/logs/bench_gan_engine_probe.log"; then
  engine_flag=no
  row "bench_gan --engine" "not available" 0 "$bin/bench_gan --engine" \
    "bench_gan has no --engine yet (docs/pending-gpu-changes.md): the host engine is not measured; --device cuda runs auto = resident"
fi
for M in 1 8 64; do
  n=$(iters_for "$M")
  host="not measured"
  if [ "$engine_flag" = yes ]; then
    run_step "bench_gan host M=$M" "$bench_timeout" "$bin/bench_gan" --device cuda --engine host --workers "$M" --iters "$n"
    host=$(steps_per_s) || stop "bench_gan host M=$M" "$bin/bench_gan --device cuda --engine host --workers $M" "no steps_per_s line" "$step_log" "$step_seconds"
    row "bench_gan host M=$M" ok "$step_seconds" "bench_gan --device cuda --engine host --workers $M --iters $n" "$host steps/s"
    resident_cmd=("$bin/bench_gan" --device cuda --engine resident --workers "$M" --iters "$n")
  else
    resident_cmd=("$bin/bench_gan" --device cuda --workers "$M" --iters "$n")
  fi
  run_step "bench_gan resident M=$M" "$bench_timeout" "${resident_cmd[@]}"
  resident=$(steps_per_s) || stop "bench_gan resident M=$M" "${resident_cmd[*]}" "no steps_per_s line" "$step_log" "$step_seconds"
  row "bench_gan resident M=$M" ok "$step_seconds" "${resident_cmd[*]#"$bin/"}" "$resident steps/s"
  run_step "gan_torch M=$M" "$bench_timeout" "$python" "$repo/bench/gan_torch.py" --device cuda --dtype float32 --workers "$M" --iters "$n"
  torch=$(steps_per_s) || stop "gan_torch M=$M" "$python bench/gan_torch.py --device cuda --workers $M" "no steps_per_s line" "$step_log" "$step_seconds"
  row "gan_torch M=$M" ok "$step_seconds" "$python bench/gan_torch.py --device cuda --dtype float32 --workers $M --iters $n" "$torch steps/s"
  ratio=$(awk -v a="$resident" -v b="$torch" 'BEGIN{if (b > 0) printf "%.2f", a / b; else print "-"}')
  bench_rows+=("| $M | $host | $resident | $torch | $ratio |")
done

write_summary "**PASSED** in $((SECONDS - started)) s on: ${device:-unknown device}."
echo
cat "$summary"
echo "gpu-check: summary in $summary"
