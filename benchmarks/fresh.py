"""Run one benchmark case in a fresh interpreter, so its time and peak memory are its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_in_fresh_process(module: str, call: str, env: dict | None = None, cwd: str | None = None) -> dict:
    """Import ``module`` (a script beside this file), evaluate ``call`` on it (a dict-returning
    expression such as ``"run_case(1, 2)"``), and return that dict plus ``peak_mb``; ``env``:
    the process's environment and ``cwd`` its folder (default: this one's)."""
    code = (f"import json, resource, sys; sys.path.insert(0, {HERE!r}); import {module} as b; r = b.{call}; "
            "r['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
            "print(json.dumps(r, default=float))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env, cwd=cwd).stdout
    return json.loads(out)
