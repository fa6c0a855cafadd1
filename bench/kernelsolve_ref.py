"""The reference benchmark's Python routines, driven by bench/python.ts.

Run as a child of the Node benchmark (LAZYKERNEL_BENCH_PYTHON=/path/to/python) so that
NumPy's dense solve and KeOps' KernelSolve are timed on the very same data, in the same
run, as lazykernel. The routines are those of KeOps' plot_benchmark_invkernel.py.

Protocol: one JSON object per line. Replies go to file descriptor 3, so that whatever a
library prints on stdout (KeOps reports its compilations there) cannot break them.
  argv[1]: {"formula": ..., "aliases": [...]}
  reply:   {"routines": [...], "skipped": {name: why}, "versions": {...}}
  request: {"routine", "x", "b", "answer" (paths), "gamma", "alpha", "tol", "loops"}
  reply:   {"seconds": mean} or {"error": "overflow" | "error", "message": ...}
"""
import json
import os
import platform
import sys
import time

import numpy as np


def squared_distances(x, y):
    # pykeops.numpy.utils.squared_distances, as the reference's NumPy column uses it.
    x_norm = (x**2).sum(1).reshape(-1, 1)
    y_norm = (y**2).sum(1).reshape(1, -1)
    return x_norm + y_norm - 2.0 * np.matmul(x, y.T)


def numpy_solve(x, b, gamma, alpha, tol):
    K = alpha * np.eye(x.shape[0]) + np.exp(-gamma * squared_distances(x, x))
    return np.linalg.solve(K, b)


def keops_routine(formula, aliases):
    from pykeops.numpy import KernelSolve

    def keops_solve(x, b, gamma, alpha, tol):
        # Built at each call, as in the reference (KeOps caches the compiled formula).
        solver = KernelSolve(formula, aliases, "a", axis=1)
        return solver(x, x, b, gamma, alpha=alpha, eps=tol)

    return keops_solve


def main():
    config = json.loads(sys.argv[1])
    replies = os.fdopen(3, "w")

    def reply(obj):
        replies.write(json.dumps(obj) + "\n")
        replies.flush()

    routines = {"python-numpy": numpy_solve}
    skipped = {}
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    try:
        import pykeops

        routines["python-keops"] = keops_routine(config["formula"], config["aliases"])
        versions["pykeops"] = pykeops.__version__
    except Exception as err:  # ImportError, or a KeOps that cannot find a compiler
        skipped["python-keops"] = f"{type(err).__name__}: {err}"
    reply({"routines": list(routines), "skipped": skipped, "versions": versions})

    for line in sys.stdin:
        request = json.loads(line)
        try:
            x = np.fromfile(request["x"], dtype=np.float32).reshape(-1, 3)
            b = np.fromfile(request["b"], dtype=np.float32).reshape(-1, 1)
            gamma = np.array([request["gamma"]], dtype=np.float32)
            args = (x, b, gamma, request["alpha"], request["tol"])
            solve = routines[request["routine"]]
            answer = solve(*args)  # warm-up, and the answer that Node checks
            start = time.perf_counter()
            for _ in range(request["loops"]):
                solve(*args)
            seconds = (time.perf_counter() - start) / request["loops"]
            np.asarray(answer, dtype=np.float64).reshape(-1).tofile(request["answer"])
            reply({"seconds": seconds})
        except MemoryError as err:
            reply({"error": "overflow", "message": f"MemoryError: {err}"})
        except Exception as err:
            reply({"error": "error", "message": f"{type(err).__name__}: {err}"})


if __name__ == "__main__":
    main()
