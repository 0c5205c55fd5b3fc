#!/usr/bin/env python3
"""A synthetic data set of a9a's shape (a9a itself cannot be downloaded here): 32,561 rows, 123 sparse
binary features in 14 one-hot groups (one active feature per group, 14 non-zeros per row; a9a has 13.9 on
average), labels +1/-1 from a noisy random linear rule with about a quarter positive, as in a9a.
Written in LIBSVM format (what `dposg run --problem robust-regression --problem-file` reads).

    python3 scripts/make-a9a-shaped.py OUT.txt [--rows N] [--seed S]
"""
import argparse
import random

GROUPS = [5, 7, 16, 7, 15, 6, 5, 2, 3, 8, 3, 2, 42, 2]  # sums to 123


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=32561)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    weights = [rng.gauss(0.0, 1.0) for _ in range(sum(GROUPS))]
    rows = []
    for _ in range(a.rows):
        active, start = [], 0
        for size in GROUPS:
            # Skewed choice within a group, as categorical attributes are.
            active.append(start + min(int(rng.expovariate(1.0 / max(size / 3.0, 0.5))), size - 1))
            start += size
        rows.append((sum(weights[i] for i in active) + rng.gauss(0.0, 1.0), active))
    # The threshold that makes about 24% of the labels positive.
    cut = sorted(s for s, _ in rows)[int(0.76 * len(rows))]
    with open(a.out, "w") as f:
        for s, active in rows:
            f.write(("+1" if s > cut else "-1") + "".join(f" {i + 1}:1" for i in active) + "\n")


if __name__ == "__main__":
    main()
