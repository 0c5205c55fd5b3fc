"""Executes Jupyter notebooks headless against one results file, as tests/test_notebooks.cpp does.

    /usr/bin/python3 tests/run_notebooks.py RESULTS.h5 notebooks/01_convergence.ipynb [...]

Sets DPOSG_RESULTS for the kernel, runs every cell with the notebook's folder as working directory
(as Jupyter does), prints the text the cells printed, and exits 1 naming the notebook and the
cell's error on the first failing cell. The notebooks in the source tree are not modified.
"""
import os
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main():
    results, notebooks = os.path.abspath(sys.argv[1]), sys.argv[2:]
    os.environ["DPOSG_RESULTS"] = results
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=180, kernel_name="python3",
                                resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
        try:
            client.execute()
        except CellExecutionError as e:
            print(f"{path} against {results}: a cell failed:\n{e}", file=sys.stderr)
            return 1
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":
                    sys.stdout.write(out.get("text", ""))
        print(f"{path}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
