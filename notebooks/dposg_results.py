"""Reading dposg results files (HDF5, the layout of DESIGN.md section 4) into pandas.

    /                          attrs: format_version, dposg_version
    /runs/<run>/               attrs: every option, rho, rho_t, status, constants, theorem quantities
    /runs/<run>/metrics/<name> 1-D, one entry per logged iteration; `iteration` is one of them
    /runs/<run>/problem/       the problem instance
    /runs/<run>/final/         z_bar (and for GANs a batch of samples)
    /verify/<check>/<row>      `dposg verify`'s table: one group of attributes per row

Only h5py, numpy and pandas are needed; run_dataset() and datasets() also need xarray
(Debian: python3-xarray). Text attributes are variable-length UTF-8 from format_version 2 (h5py
returns str); files of format_version 1 stored them fixed-length (h5py: bytes). Everything here
returns str for both.

Importable from anywhere once the project is built: the build writes dposg.pth (this folder) into
the user site-packages of /usr/bin/python3 (CMake option DPOSG_PYTHON_PTH), and `cmake --install`
copies this file into the install prefix's site-packages.
"""
import os
import warnings

import h5py
import numpy as np
import pandas as pd

# Final values reported per run in runs_table().
FINAL_METRICS = ("grad_norm_sq", "consensus_error", "dist_to_solution", "bytes_busiest", "wall_time_s")


def results_path(default="results.h5"):
    """The results file the notebooks read: $DPOSG_RESULTS, else `default`."""
    return os.environ.get("DPOSG_RESULTS", default)


def _py(value):
    """An attribute value as plain Python: str for strings, float/int for scalars, arrays kept."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.shape == ():
            return _py(value[()])
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def _live_marker(path):
    """(pid, generation) of the writer publishing `path`.live (core/live_file.hpp), or None."""
    try:
        with open(path + ".live", "rb") as f:
            raw = f.read(24)
    except OSError:
        return None
    if len(raw) != 24 or raw[:8] != b"DPOSGLIV":
        return None
    return int.from_bytes(raw[8:16], "little", signed=True), int.from_bytes(raw[16:24], "little")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def live_snapshot(path, wait_s=10.0):
    """The bytes of a consistent snapshot of `path` while a dposg process writes it, else None.

    The writer keeps a generation counter in `path`.live, odd while it changes the file and even
    once a flush has completed (a seqlock; HDF5 1.10's SWMR cannot serve a writer that creates
    groups and attributes as it goes). The file is copied while the counter is even and unchanged
    across the copy: the file as of the writer's last flush. During the copy a shared flock on the
    marker holds the writer's next change off (for up to 2 s; core/live_file.hpp), so that a copy
    slower than the writer's flushes still comes out whole.
    """
    import fcntl
    import time

    deadline = time.monotonic() + wait_s
    while True:
        before = _live_marker(path)
        if before is None or before[0] == os.getpid() or not _alive(before[0]):
            return None
        try:
            lock = open(path + ".live", "rb")
        except OSError:
            lock = None
        try:
            copy = True
            if lock is not None:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    copy = False  # the writer is changing the file: wait
                except OSError:
                    pass  # no locks on this file system: copy and let the counter judge
            if copy and before[1] % 2 == 0:
                with open(path, "rb") as f:
                    data = f.read()
                after = _live_marker(path)
                if after is None:
                    return None  # the writer closed the file: read it directly
                if after[1] == before[1]:
                    return data
        finally:
            if lock is not None:
                lock.close()
        if time.monotonic() > deadline:
            return None
        time.sleep(0.002)


def _open(path):
    # A file that a run or sweep is writing: a consistent copy in memory (live_snapshot).
    data = live_snapshot(path)
    if data is not None:
        import io

        return h5py.File(io.BytesIO(data), "r")
    # No file lock: a writer killed mid-run, or another reader, may hold the file.
    try:
        return h5py.File(path, "r", locking=False)
    except TypeError:  # h5py < 3.5 has no `locking`
        return h5py.File(path, "r")


def _metrics_of(group):
    """The run's metrics as a DataFrame indexed by iteration (rows cut to the shortest dataset, as a
    killed writer can leave one dataset a flush ahead of the others)."""
    if "metrics" not in group:
        return pd.DataFrame()
    m = group["metrics"]
    names = [n for n in m if isinstance(m[n], h5py.Dataset) and m[n].ndim == 1]
    if not names:
        return pd.DataFrame()
    rows = min(m[n].shape[0] for n in names)
    data = {n: m[n][:rows] for n in names}
    df = pd.DataFrame(data)
    if "iteration" in df:
        df = df.set_index("iteration")
    return df


def _runs(f):
    """(name, group or None, error) for every run: a run whose objects cannot be read (a writer
    killed in the middle of a flush) comes with group None and the reason, and is named in a
    warning, so that every other run of a damaged file is still read."""
    if "runs" not in f:
        return
    for name in list(f["runs"]):
        try:
            g = f["runs"][name]
            dict(g.attrs)  # the header and attributes are readable
        except Exception as e:  # h5py raises OSError, KeyError or RuntimeError for damage
            warnings.warn(f"dposg results: run '{name}' is damaged and cannot be read ({e})")
            yield name, None, str(e)
            continue
        yield name, g, None


def runs_table(path=None):
    """One row per run: its name, every scalar attribute, the number of logged rows, the final
    value of FINAL_METRICS (`final_<name>`) and `mean_grad_norm_sq`, the mean of ||g(z_bar_k)||^2
    over the logged iterations k < N (Theorem 1's left-hand side, sampled every --log-every)."""
    path = path or results_path()
    records = []
    with _open(path) as f:
        for name, g, error in _runs(f):
            rec = {"run": name}
            if g is None:
                records.append({"run": name, "status": "damaged", "damage": error, "rows": 0})
                continue
            for key, value in g.attrs.items():
                v = _py(value)
                if not isinstance(v, np.ndarray):
                    rec[key] = v
            try:
                df = _metrics_of(g)
            except Exception as e:
                warnings.warn(f"dposg results: the metrics of run '{name}' are damaged ({e})")
                rec["status"], rec["damage"] = "damaged", str(e)
                df = pd.DataFrame()
            rec["rows"] = len(df)
            rec["metrics"] = ",".join(df.columns)
            for metric in FINAL_METRICS:
                rec["final_" + metric] = df[metric].iloc[-1] if metric in df and len(df) else np.nan
            if "grad_norm_sq" in df and len(df):
                iters = rec.get("iters")
                before_end = df.index < iters if iters is not None and len(df) > 1 else slice(None)
                rec["mean_grad_norm_sq"] = float(df["grad_norm_sq"][before_end].mean())
            else:
                rec["mean_grad_norm_sq"] = np.nan
            records.append(rec)
    return pd.DataFrame.from_records(records)


def metrics(run, path=None):
    """The metrics of one run, indexed by iteration."""
    path = path or results_path()
    with _open(path) as f:
        return _metrics_of(f["runs"][run])


def all_metrics(path=None, runs=None):
    """Every run's metrics in one long table: columns run, iteration and one per metric."""
    path = path or results_path()
    frames = []
    with _open(path) as f:
        for name, g, _ in _runs(f):
            if g is None or (runs is not None and name not in runs):
                continue
            try:
                df = _metrics_of(g)
            except Exception as e:
                warnings.warn(f"dposg results: the metrics of run '{name}' are damaged ({e})")
                continue
            if len(df):
                df = df.reset_index()
                df.insert(0, "run", name)
                frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "iteration"])


def final_arrays(run, path=None):
    """The datasets under /runs/<run>/final (z_bar, GAN samples, ...) as numpy arrays."""
    path = path or results_path()
    with _open(path) as f:
        g = f["runs"][run]
        if "final" not in g:
            return {}
        return {n: d[()] for n, d in g["final"].items() if isinstance(d, h5py.Dataset)}


def verify_table(path=None):
    """`dposg verify`'s table (/verify/<check>/<row>, one row per group of attributes), or None
    when the file holds no /verify group."""
    path = path or results_path()
    with _open(path) as f:
        if "verify" not in f:
            return None
        records = []
        for check, cg in f["verify"].items():
            if not isinstance(cg, h5py.Group):
                continue
            for row, rg in cg.items():
                rec = {"check": check, "row": row}
                rec.update({k: _py(v) for k, v in rg.attrs.items()})
                records.append(rec)
        return pd.DataFrame.from_records(records)


def theorem1_not_applicable(run):
    """Why Theorem 1 says nothing about a run (a row of runs_table() or a dict of its attributes),
    or "" when it covers it: the rule of `dposg run`'s summary (app/experiment.cpp,
    theorem1_not_applicable). Within its conditions additionally needs eta_condition and
    t_condition; see theorem1_within()."""
    def get(key, default=None):
        v = run.get(key, default) if hasattr(run, "get") else default
        return default if v is None or (isinstance(v, float) and np.isnan(v)) else v

    for key in ("L", "sigma", "G"):
        v = get(key)
        if v is None or not np.isfinite(float(v)):
            return "the problem's L, sigma or G is unknown"
    if int(get("assumption_iv", 1)) == 0:
        return "the problem violates Assumption 1(iv)"
    algorithm = get("algorithm", "dposg")
    if algorithm != "dposg":
        return f"--algorithm {algorithm} is not Algorithm 1"
    if get("compressor", "none") != "none":
        return "compressed gossip (CHOCO) is not Algorithm 1's exact averaging"
    if int(get("overlap", 0)) != 0:
        return "--overlap runs the paper's implementation, not Algorithm 1"
    step_rule = get("step_rule", "osg")
    if step_rule != "osg":
        return f"--step-rule {step_rule} is not Algorithm 1's optimistic step"
    return ""


def theorem1_within(run):
    """True when Theorem 1 covers the run and its eta and t meet the theorem's conditions."""
    return (theorem1_not_applicable(run) == "" and int(run.get("eta_condition", 0)) == 1
            and int(run.get("t_condition", 0)) == 1)


def group_mean(df, by, value, index="iteration"):
    """Mean, min and max of `value` over the runs of each group `by` at each `index` value."""
    return df.groupby(by + [index])[value].agg(["mean", "min", "max", "count"]).reset_index()


def _attr_for_xarray(value):
    """An attribute as xarray (and netCDF) keeps it: str, int, float or a 1-D numeric array."""
    v = _py(value)
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    return v


def run_dataset(run, path=None):
    """One run as an xarray.Dataset: a data variable per metric over the coordinate `iteration`,
    the run's attributes (options, constants, status, ...) as the Dataset's attrs, the run's name as
    attrs["run"]. Needs xarray (ImportError naming the Debian package otherwise)."""
    try:
        import xarray as xr
    except ImportError as e:
        raise ImportError("dposg_results.run_dataset needs xarray (Debian: apt-get install python3-xarray)") from e
    path = path or results_path()
    with _open(path) as f:
        g = f["runs"][run]
        df = _metrics_of(g)
        attrs = {k: _attr_for_xarray(v) for k, v in g.attrs.items()}
    attrs["run"] = run
    if df.index.name != "iteration":
        df.index.name = "iteration"
    ds = xr.Dataset.from_dataframe(df)
    ds.attrs.update(attrs)
    return ds


def datasets(path=None):
    """{run name: run_dataset(run)} for every readable run of the file."""
    path = path or results_path()
    with _open(path) as f:
        names = [name for name, g, _ in _runs(f) if g is not None]
    return {name: run_dataset(name, path) for name in names}
