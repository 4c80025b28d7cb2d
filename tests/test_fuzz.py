"""A seeded mutation fuzzer over the bundled example and small generated checkpoints.

Each case mutates one valid file (byte flips, truncation, insertions, copied
slices, extreme integers, edits of the header text) and loads it; whatever
loads is also measured.  Asserted: only GraphtoolsError escapes, the traced
memory stays bounded by the file, and no case hangs.  ``GRAPHTOOLS_FUZZ_CASES``
sets the number of cases (default 300, seed ``GRAPHTOOLS_FUZZ_SEED``, default 0).
"""

import io
import os
import time
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner

from graphtools.analysis import analyze_checkpoint
from graphtools.cli import main
from graphtools.errors import GraphtoolsError
from graphtools.io import load_state
from graphtools.safetensors import write_safetensors

CASES = int(os.environ.get("GRAPHTOOLS_FUZZ_CASES", "300"))
SEED = int(os.environ.get("GRAPHTOOLS_FUZZ_SEED", "0"))
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "data", "examples", "lstm_pruned.npz")
#: A hang detector, not a speed test: the slowest case takes well under a second.
HANG_SECONDS = 60
HEADER_CHARS = b"{}()[],:'\" 0123456789TrueFalse<f4|u1U99999999999999999999-e."
EXTREMES = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1]


def _npy(array, version) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


def _seeds(tmp_path) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(1)
    lstm = {"rnn.weight_ih_l0": rng.standard_normal((16, 3)).astype(np.float32),
            "rnn.weight_hh_l0": rng.standard_normal((16, 4)).astype(np.float32),
            "fc.weight": rng.standard_normal((2, 4)).astype(np.float32)}
    np.savez(tmp_path / "small.npz", **lstm)
    np.savez_compressed(tmp_path / "small_z.npz", **lstm)
    write_safetensors(tmp_path / "small.safetensors", lstm, {"k": "v"})
    with open(EXAMPLE, "rb") as handle:
        example = handle.read()
    return [
        (".npz", example),
        (".npz", (tmp_path / "small.npz").read_bytes()),
        (".npz", (tmp_path / "small_z.npz").read_bytes()),
        (".safetensors", (tmp_path / "small.safetensors").read_bytes()),
        (".npy", _npy(lstm["rnn.weight_hh_l0"], (1, 0))),
        (".npy", _npy(np.asfortranarray(lstm["fc.weight"].astype(np.float64)), (2, 0))),
        (".npy", _npy(lstm["rnn.weight_ih_l0"], (3, 0))),
    ]


def _header_span(ext: str, data: bytes) -> tuple[int, int]:
    """Where the text header of the file lies (the whole file for zip archives)."""
    if ext == ".npy" and len(data) > 10:
        width = 2 if data[6] == 1 else 4
        return 8 + width, min(len(data), 8 + width + int.from_bytes(data[8:8 + width], "little"))
    if ext == ".safetensors" and len(data) > 8:
        return 8, min(len(data), 8 + int.from_bytes(data[:8], "little"))
    return 0, len(data)


def mutate(rng: np.random.Generator, ext: str, data: bytes) -> bytes:
    """One to three random mutations of ``data``."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        if not out:
            out = bytearray(b"\0")
        kind = int(rng.integers(0, 7))
        at = int(rng.integers(0, len(out)))
        if kind == 0:  # flip bytes
            for _ in range(int(rng.integers(1, 9))):
                out[int(rng.integers(0, len(out)))] = int(rng.integers(0, 256))
        elif kind == 1:  # truncate
            del out[at:]
        elif kind == 2:  # insert random bytes
            out[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        elif kind == 3:  # copy a slice elsewhere
            end = min(len(out), at + int(rng.integers(1, 256)))
            target = int(rng.integers(0, len(out)))
            out[target:target] = out[at:end]
        elif kind == 4:  # an extreme little-endian integer
            value = EXTREMES[int(rng.integers(0, len(EXTREMES)))]
            width = int(rng.choice([1, 2, 4, 8]))
            out[at:at + width] = (value % 256**width).to_bytes(width, "little")
        else:  # edit the header text with characters that matter to it
            start, end = _header_span(ext, bytes(out))
            if end > start:
                for _ in range(int(rng.integers(1, 5))):
                    pos = int(rng.integers(start, end))
                    piece = HEADER_CHARS[int(rng.integers(0, len(HEADER_CHARS))):][:int(rng.integers(1, 6))]
                    out[pos:pos + int(rng.integers(0, 3))] = piece
    return bytes(out)


def test_mutated_checkpoints_raise_only_graphtools_errors(tmp_path):
    rng = np.random.default_rng(SEED)
    seeds = _seeds(tmp_path)
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(CASES):
        ext, original = seeds[case % len(seeds)]
        data = mutate(rng, ext, original)
        path = tmp_path / f"case{ext}"
        path.write_bytes(data)
        began = time.perf_counter()
        tracemalloc.start()
        try:
            analyze_checkpoint(path, gates=case % 2 == 0, bounds=case % 5 == 0)
            outcomes["loaded"] += 1
        except GraphtoolsError as exc:
            assert str(exc) and "\n" not in str(exc), (case, str(exc))
            outcomes["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"case {case} (seed {SEED}, {ext}): {type(exc).__name__}: {exc}")
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak <= 64 * 2**20 + 4 * len(data), f"case {case}: {peak} bytes traced for a {len(data)}-byte file"
        assert time.perf_counter() - began < HANG_SECONDS, f"case {case} hung"
    assert outcomes["refused"] > CASES // 4  # the mutations really break files
    assert outcomes["loaded"] > 0  # and some still load (flips inside the data)


def test_mutated_checkpoints_through_the_command_line(tmp_path):
    rng = np.random.default_rng(SEED + 1)
    seeds = _seeds(tmp_path)
    runner = CliRunner()
    for case in range(max(10, CASES // 10)):
        ext, original = seeds[case % len(seeds)]
        path = tmp_path / f"cli{ext}"
        path.write_bytes(mutate(rng, ext, original))
        result = runner.invoke(main, ["analyze", str(path), "--format", "json"])
        assert result.exit_code in (0, 1), (case, result.output)
        assert "internal error" not in result.output and "out of memory" not in result.output, (case, result.output)
        if result.exit_code == 1:
            assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
