#!/usr/bin/env python3
"""Puts the project's Python module (notebooks/dposg_results.py) on the path of the Python that runs
this script: writes dposg.pth, naming FOLDER, into its user site-packages. The build runs it with
/usr/bin/python3 (CMake option DPOSG_PYTHON_PTH), so that `import dposg_results` works from any
notebook or script after the README's set-up. Usage: python-path.py FOLDER"""
import os
import site
import sys


def main():
    folder = os.path.abspath(sys.argv[1])
    if not site.ENABLE_USER_SITE:
        print(f"python-path: user site-packages disabled for {sys.executable}; "
              f"import dposg_results needs PYTHONPATH={folder}")
        return 0
    target = site.getusersitepackages()
    os.makedirs(target, exist_ok=True)
    pth = os.path.join(target, "dposg.pth")
    line = folder + "\n"
    if os.path.exists(pth) and open(pth).read() == line:
        return 0
    with open(pth, "w") as f:
        f.write(line)
    print(f"python-path: {pth} -> {folder} (import dposg_results)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
