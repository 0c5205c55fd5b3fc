#pragma once
// Joining results files of one sweep: the shards of a job array (`dposg sweep --shard i/n`) or the
// per-rank files of an MPI sweep, into one file (`dposg merge`).
#include <cstddef>
#include <string>
#include <vector>

namespace dposg {

struct MergeReport {
  std::size_t copied = 0;     // runs copied into the output
  std::size_t kept = 0;       // runs of the output kept (an equal or better copy was already there)
  std::size_t left_out = 0;   // runs left out: still `running` (a killed process) or unreadable
};

// Copies the runs of `inputs` into `out` (created when absent), every object as it is (attributes,
// metrics, problem/, final/, with their types and layouts). Per run name the best recorded state wins: finished or
// diverged, then failed; runs left `running` or damaged are left out (a resumed sweep redoes them).
// A run already in `out` is replaced only by a better state, or by any recorded state when
// `replace` (the results of a sweep that has just redone it). Throws InputError, before anything
// is written, when a run was not made by a sweep or its sweep's options (`sweep_definition`) differ
// from the other runs' (files of different sweeps are not joined).
//
// `continuable` (an MPI sweep taking over a killed or stopped job's rank files): runs left
// `interrupted` or `running` are copied too, and any copy from the inputs replaces one in `out`
// that is not a result (failed, interrupted, running, damaged), so that the sweep can continue them
// from their checkpoints with the rows they had logged.
MergeReport merge_results(const std::string& out, const std::vector<std::string>& inputs, bool replace = false,
                          bool continuable = false);

// Copies /runs/<run> of `from` into `to` (both results files, neither open in this process),
// replacing a run of that name: an MPI sweep's rank continues a run of --out in its own file.
void copy_run(const std::string& from, const std::string& to, const std::string& run);

}  // namespace dposg
