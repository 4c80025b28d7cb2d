"""Time and peak memory of loading hostile and degenerate checkpoints (issue 12), each in a fresh process.

Usage: python benchmarks/bench_hostile.py [--runs 3] [--baseline SRC] [--timeout 120]

Seconds are those of the call alone (imports excluded); peak memory is the child's
VmHWM (its own resident high-water mark, imports included).

Cases: many tiny tensors (safetensors, npz), a 10 MB safetensors header of empty
tensors, a 100 MB header of junk, a compressed zero matrix, and an 80-byte .npy
declaring shape (0, 10**8) analysed end to end.  With ``--baseline SRC`` the same
cases run again with ``PYTHONPATH=SRC`` (another checkout of graphtools) for the
ratio; a case that exceeds ``--timeout`` seconds is reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

CHILD = r"""
import json, time
{imports}
began = time.perf_counter()
try:
    {call}
    outcome = "ok"
except Exception as exc:
    outcome = type(exc).__name__ + ": " + str(exc)[:60]
seconds = time.perf_counter() - began
with open("/proc/self/status") as status:  # the high-water mark of this process alone
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({{"seconds": seconds, "outcome": outcome, "rss_mb": hwm / 1024}}))
"""


def make_files(folder: str) -> dict[str, tuple[str, str]]:
    """case name -> (file, statement run in the child)."""
    from graphtools.safetensors import write_safetensors

    files = {}
    many = os.path.join(folder, "many.safetensors")
    write_safetensors(many, {f"layer{i}.w": np.ones((1, 1), np.float32) for i in range(100_000)})
    files["100,000 1x1 tensors (safetensors)"] = (many, "load_state")
    npz = os.path.join(folder, "many.npz")
    np.savez(npz, **{f"w{i}": np.ones((1, 1), np.float32) for i in range(20_000)})
    files["20,000 1x1 members (npz)"] = (npz, "load_state")
    header = json.dumps({f"t{i:07d}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
                         for i in range(160_000)}).encode()
    empty = os.path.join(folder, "empty.safetensors")
    with open(empty, "wb") as handle:
        handle.write(len(header).to_bytes(8, "little") + header)
    files[f"{len(header) / 1e6:.0f} MB header, 160,000 empty tensors"] = (empty, "load_state")
    junk = b'{"x": [' + b"{}," * 33_000_000 + b"{}]}"
    bomb = os.path.join(folder, "junk.safetensors")
    with open(bomb, "wb") as handle:
        handle.write(len(junk).to_bytes(8, "little") + junk)
    files[f"{len(junk) / 1e6:.0f} MB header of [{{}}, ...] (refused)"] = (bomb, "load_state")
    zeros = os.path.join(folder, "zeros.npz")
    np.savez_compressed(zeros, w=np.zeros((10_000, 10_000), np.float32))
    files["400 MB zero matrix, compressed (npz)"] = (zeros, "load_state")
    wide = os.path.join(folder, "wide.npy")
    np.save(wide, np.zeros((0, 10**8), np.float32))
    files["(0, 10**8) .npy, analyze --gates --bounds"] = (wide, "analyze")
    return files


def run_case(path: str, what: str, src: str | None, timeout: float) -> dict:
    if what == "load_state":
        imports, call = "from graphtools.io import load_state", f"load_state({path!r})"
    else:
        imports = "from graphtools.analysis import analyze_checkpoint"
        call = f"analyze_checkpoint({path!r}, gates=True, bounds=True)"
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    try:
        out = subprocess.run([sys.executable, "-c", CHILD.format(imports=imports, call=call)], capture_output=True, text=True,
                             env=env, timeout=timeout, check=True, cwd=src or None)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "rss_mb": None, "outcome": f"over {timeout:.0f} s"}
    except subprocess.CalledProcessError as exc:
        return {"seconds": None, "rss_mb": None, "outcome": f"crashed: {exc.stderr.strip()[-80:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", default=None, help="another graphtools checkout to compare against")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        files = make_files(folder)
        print("| case | graphtools s (median) | peak RSS MB | outcome | baseline s | baseline RSS MB | baseline outcome |")
        print("|---|---|---|---|---|---|---|")
        for name, (path, what) in files.items():
            mine = [run_case(path, what, None, args.timeout) for _ in range(args.runs)]
            row = [name, _median(mine, "seconds"), _median(mine, "rss_mb"), mine[0]["outcome"]]
            if args.baseline:
                base = [run_case(path, what, args.baseline, args.timeout) for _ in range(args.runs)]
                row += [_median(base, "seconds"), _median(base, "rss_mb"), base[0]["outcome"]]
            else:
                row += ["-", "-", "-"]
            print("| " + " | ".join(str(v) for v in row) + " |", flush=True)


def _median(results: list[dict], key: str) -> str:
    values = [r[key] for r in results if r[key] is not None]
    return "-" if not values else f"{statistics.median(values):.2f}"


if __name__ == "__main__":
    main()
