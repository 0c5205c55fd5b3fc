"""CTest (label integration): notebooks/dposg_results.py as the README promises it, imported as
`import dposg_results` from a folder that is not notebooks/ with no sys.path change (the build's
dposg.pth), on a file written by dposg: text attributes come back as str (format_version 2), a file
of format_version 1 (fixed-length strings, which h5py returns as bytes) reads the same, pandas
frames, and one xarray Dataset per run where python3-xarray is installed.

    /usr/bin/python3 tests/test_dposg_results.py DPOSG SOURCE_DIR
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def to_format_1(path):
    """Rewrites every text attribute as the fixed-length UTF-8 string format_version 1 wrote."""
    with h5py.File(path, "r+") as f:
        def rewrite(obj):
            for k, v in list(obj.attrs.items()):
                if isinstance(v, str):
                    raw = v.encode("utf-8")
                    tid = h5py.h5t.C_S1.copy()
                    tid.set_size(len(raw) + 1)
                    tid.set_cset(h5py.h5t.CSET_UTF8)
                    del obj.attrs[k]
                    obj.attrs.create(k, np.array(raw, dtype=f"S{len(raw) + 1}"), dtype=h5py.Datatype(tid))
        rewrite(f)
        f.visititems(lambda name, obj: rewrite(obj))
        f.attrs["format_version"] = np.int64(1)


def main():
    dposg, source = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        import dposg_results as dr  # no sys.path change: the build put notebooks/ on the path
        check(os.path.realpath(dr.__file__) == os.path.realpath(os.path.join(source, "notebooks", "dposg_results.py")),
              f"dposg_results imported from {dr.__file__}, not this source tree")
        subprocess.run([dposg, "sweep", "--grid", "topology=ring,complete", "--workers", "4", "--iters", "20",
                        "--log-every", "5", "--quiet", "--out", "r.h5"], check=True)
        with h5py.File("r.h5", "r") as f:
            check(int(f.attrs["format_version"]) == 2, "format_version 2")
            run = f["runs"]["topology=ring,seed=0"]
            check(type(run.attrs["status"]) is str, f"h5py returns the status as {type(run.attrs['status'])}")
            check(run.attrs["topology"] == "ring", "topology attribute")
            reference = run["metrics/grad_norm_sq"][:]
        for label, path in (("format 2", "r.h5"), ("format 1", "old.h5")):
            if path == "old.h5":
                subprocess.run(["cp", "r.h5", "old.h5"], check=True)
                to_format_1("old.h5")
                with h5py.File("old.h5", "r") as f:
                    check(isinstance(f["runs"]["topology=ring,seed=0"].attrs["status"], bytes), "the old format's bytes")
            table = dr.runs_table(path)
            check(len(table) == 2, f"{label}: two runs")
            check(all(isinstance(s, str) and s == "finished" for s in table["status"]), f"{label}: statuses {list(table['status'])}")
            check(sorted(table["topology"]) == ["complete", "ring"], f"{label}: topologies")
            m = dr.metrics("topology=ring,seed=0", path)
            check(list(m.index) == [0, 5, 10, 15, 20], f"{label}: iterations {list(m.index)}")
            check(np.array_equal(m["grad_norm_sq"].to_numpy(), reference), f"{label}: grad_norm_sq as stored")
            # dposg's own reader takes both formats too.
            info = subprocess.run([dposg, "info", path, "--csv"], check=True, capture_output=True, text=True).stdout
            check(info.count(",finished,") == 2, f"{label}: dposg info reads it:\n{info}")
            try:
                import xarray  # noqa: F401
            except ImportError:
                print("SKIPPED xarray part: python3-xarray is not installed")
                continue
            ds = dr.run_dataset("topology=ring,seed=0", path)
            check(list(ds.coords) == ["iteration"], f"{label}: coordinates {list(ds.coords)}")
            check(list(ds["iteration"].values) == [0, 5, 10, 15, 20], f"{label}: iteration coordinate")
            check(np.array_equal(ds["grad_norm_sq"].values, reference), f"{label}: Dataset's grad_norm_sq")
            check(ds.attrs["status"] == "finished" and ds.attrs["topology"] == "ring", f"{label}: attrs carried")
            check(ds.attrs["workers"] == 4 and ds.attrs["run"] == "topology=ring,seed=0", f"{label}: attrs carried")
            check(sorted(dr.datasets(path)) == ["topology=complete,seed=0", "topology=ring,seed=0"], f"{label}: datasets()")
    print("dposg_results: all checks passed")


if __name__ == "__main__":
    main()
