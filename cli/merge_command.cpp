// dposg merge OUT IN...: the results files of one sweep (the shards of a job array, or parts an MPI
// sweep left behind) joined into one (app/merge.hpp).
#include <cstdio>

#include "app/merge.hpp"
#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"

namespace dposg::cli {

int merge_command(int argc, const char* const argv[]) {
  std::string out;
  std::vector<std::string> inputs;
  bool quiet = false;
  po::options_description desc("Merge");
  desc.add_options()("out", po::value(&out), "the joined results file (created when absent; its runs are kept)")(
      "inputs", po::value(&inputs)->multitoken(), "results files of the same sweep")(
      "quiet", po::bool_switch(&quiet), "print nothing");
  po::positional_options_description pos;
  pos.add("inputs", -1);
  if (!parse(argc, argv, desc,
             "usage: dposg merge --out OUT IN [IN ...]\n"
             "Copies the runs of the IN files, all of one sweep (the same grid and options: `dposg sweep --shard\n"
             "i/n` parts), into OUT. Per run the best recorded state wins (finished or diverged, then failed);\n"
             "runs left `running` by a killed process are left out, and a resumed sweep on OUT redoes them.\n"
             "Files of different sweeps are refused (exit 2, nothing written).",
             &pos))
    return 0;
  if (out.empty()) throw InputError("--out: give the joined results file (dposg merge --out OUT IN...)");
  if (inputs.empty()) throw InputError("IN: give the results files to join (dposg merge --out OUT IN...)");
  for (const auto& in : inputs)
    if (in == out) throw InputError("--out: '" + out + "' is also an input");
  const MergeReport r = merge_results(out, inputs);
  if (!quiet)
    std::printf("merge -> %s: %zu run(s) copied, %zu kept as they were, %zu left out (running or damaged)\n",
                out.c_str(), r.copied, r.kept, r.left_out);
  return 0;
}

}  // namespace dposg::cli
