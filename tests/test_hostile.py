"""Hostile files and options: one test per finding of the fuzzing campaign (docs/loading.md)."""

import errno
import io
import json
import os
import pickle
import tracemalloc
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from graphtools import budget
from graphtools.analysis import analyze_checkpoint, analyze_graph, empty_report
from graphtools.cli import main
from graphtools.data.cifar import read_py_batch
from graphtools.data.safe_pickle import safe_load
from graphtools.errors import GraphtoolsError
from graphtools.experiments.results import append_record
from graphtools.experiments.sweep import remove_stale_temporaries
from graphtools.graphs import bipartite
from graphtools.io import load_state
from graphtools.npyformat import NpyHeaderError, parse_header_text
from graphtools.safetensors import write_safetensors
from graphtools.validate import check_finite, check_seed

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "data", "examples", "lstm_pruned.npz")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def npy_bytes(header: str, data: bytes = b"", version=(1, 0)) -> bytes:
    raw = header.encode("latin-1" if version != (3, 0) else "utf-8")
    width = 2 if version == (1, 0) else 4
    return b"\x93NUMPY" + bytes(version) + len(raw).to_bytes(width, "little") + raw + data


def safetensors_bytes(header: str, data: bytes = b"") -> bytes:
    raw = header.encode()
    return len(raw).to_bytes(8, "little") + raw + data


def peak_bytes(fn, *args, **kwargs):
    """(result or exception, peak traced bytes) of ``fn(*args)``; numpy reports its buffers to tracemalloc."""
    tracemalloc.start()
    try:
        try:
            out = fn(*args, **kwargs)
        except GraphtoolsError as exc:
            out = exc
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------- .npy headers


@pytest.mark.parametrize("header,why", [
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), ", "header ends early"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': ((2, 2), }", "non-negative integer"),
    ("{{'a': 1}: 1, 'descr': '<f4'}", "quoted key"),
    ("{" * 200 + "}" * 200, "quoted key"),
    ("{'descr': '<f4', 'fortran_order': False}", "lacks shape"),
    ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "appears twice"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unexpected key 'extra'"),
    ("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "True or False"),
    ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", "quoted dtype"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (3)}", "trailing comma"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "unexpected text '-1,)}'"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "too large"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "unexpected text"),
    ("{'descr': __import__('os'), 'fortran_order': False, 'shape': (1,)}", "unexpected text"),
])
def test_malformed_npy_headers_are_named_graphtools_errors(tmp_path, header, why):
    path = tmp_path / "w.npy"
    path.write_bytes(npy_bytes(header + "\n"))
    with pytest.raises(GraphtoolsError) as info:
        load_state(path)
    message = str(info.value)
    assert message.startswith(f"{path}: array 'w' has an invalid .npy header") and why in message, message


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_written_by_numpy_in_every_format_version_loads(tmp_path, version):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "w.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array(handle, array, version=version)
    np.testing.assert_array_equal(load_state(path).tensors["w"], array)


def test_fortran_order_and_reordered_header_keys_load(tmp_path):
    array = np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3))
    path = tmp_path / "w.npy"
    header = "{'shape': (2, 3), \"fortran_order\": True, 'descr': '<f8'}"
    path.write_bytes(npy_bytes(header + " " * 5 + "\n", array.tobytes(order="F")))
    np.testing.assert_array_equal(load_state(path).tensors["w"], array)


def test_unknown_npy_version_and_bad_descr_are_refused(tmp_path):
    path = tmp_path / "w.npy"
    path.write_bytes(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}\n", b"\0" * 4, (4, 0)))
    with pytest.raises(GraphtoolsError, match=r"unsupported \.npy format version 4\.0"):
        load_state(path)
    path.write_bytes(npy_bytes("{'descr': 'not a dtype', 'fortran_order': False, 'shape': (1,)}\n"))
    with pytest.raises(GraphtoolsError, match="unsupported dtype description"):
        load_state(path)


def test_header_parser_is_the_same_for_canonical_and_general_spellings():
    canonical = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
    spaced = "{ 'descr' : '<f4' , 'fortran_order' : False , 'shape' : ( 3 , 4 ) }"
    assert parse_header_text(canonical) == parse_header_text(spaced) == ("<f4", False, (3, 4))
    assert parse_header_text("{'descr': '|u1', 'fortran_order': False, 'shape': (), }")[2] == ()
    with pytest.raises(NpyHeaderError):
        parse_header_text("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }")


# ---------------------------------------------------------------- zip


def test_zip_member_needing_a_newer_zip_version_is_a_graphtools_error(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, w=np.ones((2, 2), np.float32))
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 4), (b"PK\x01\x02", 6)):  # local and central headers
        at = data.find(signature)
        data[at + offset:at + offset + 2] = (99).to_bytes(2, "little")  # version needed: 9.9
    path.write_bytes(bytes(data))
    with pytest.raises(GraphtoolsError, match=r"m\.npz: unsupported \.npz \(zip\) archive: zip file version 9\.9 "
                                              r"is needed to extract it"):
        load_state(path)


def test_duplicate_member_among_many_is_found(tmp_path):
    path = tmp_path / "m.npz"
    with zipfile.ZipFile(path, "w") as archive:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.ones((1, 1), np.float32))
        for i in range(3000):
            archive.writestr(f"w{i}.npy", buffer.getvalue())
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("w17.npy", buffer.getvalue())
    with pytest.raises(GraphtoolsError, match="array 'w17' appears more than once"):
        load_state(path)


def test_many_tiny_members_load(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, **{f"w{i}": np.full((1, 1), i, np.float32) for i in range(2000)})
    tensors = load_state(path).tensors
    assert len(tensors) == 2000 and tensors["w1999"][0, 0] == 1999


def test_compressed_zero_matrix_is_held_once(tmp_path):
    path = tmp_path / "m.npz"
    array = np.zeros((2000, 5000), np.float32)  # 40 MB, a few kB compressed
    np.savez_compressed(path, w=array)
    checkpoint, peak = peak_bytes(load_state, path)
    assert checkpoint.tensors["w"].shape == (2000, 5000)
    assert peak <= 1.5 * array.nbytes + 2**24 + 2**20, peak  # 1.5x the array + one read chunk


# ---------------------------------------------------------------- safetensors


def test_empty_tensor_of_huge_declared_shape_costs_nothing(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(safetensors_bytes(json.dumps({"w": {"dtype": "F32", "shape": [0, 10**12],
                                                         "data_offsets": [0, 0]}})))
    report, peak = peak_bytes(analyze_checkpoint, path, bounds=True)
    (layer,) = report.layers
    assert layer.shape == (0, 10**12) and layer.inputs.isolated == 10**12 and layer.components == 10**12
    assert peak < 2**22, peak


@pytest.mark.parametrize("shape", [[0, 10**19], [0, 2**62, 2**62], [1] * 65])
def test_impossible_safetensors_shapes_are_refused(tmp_path, shape):
    path = tmp_path / "m.safetensors"
    path.write_bytes(safetensors_bytes(json.dumps({"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}})))
    with pytest.raises(GraphtoolsError, match=f"{path}: invalid safetensors file: tensor 'w'"):
        load_state(path)


@pytest.mark.parametrize("shape", [(0, 100_000_000), (100_000_000, 0)])
def test_empty_npy_of_huge_shape_is_measured_in_constant_memory(tmp_path, shape):
    path = tmp_path / "w.npy"
    np.save(path, np.zeros(shape, np.float32))
    assert path.stat().st_size < 200
    report, peak = peak_bytes(analyze_checkpoint, path, gates=True, bounds=True)
    assert report.layers[0].components == 100_000_000
    assert peak < 2**22, peak


def test_empty_report_matches_the_general_measures():
    for shape in [(0, 0), (0, 3), (5, 0), (0, 17), (30, 0)]:
        for bounds in (False, True):
            general = analyze_graph(bipartite(np.zeros(shape), "w", "i"), bounds=bounds).to_dict()
            assert empty_report(shape, "w", "i", bounds).to_dict() == general


def test_huge_safetensors_header_of_junk_is_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "m.safetensors"
    header = '{"x": [' + "{}, " * 1_000_000 + "{}]}"  # 4 MB
    path.write_bytes(safetensors_bytes(header))
    error, peak = peak_bytes(load_state, path)
    assert isinstance(error, GraphtoolsError) and "'x' is not an object" in str(error)
    assert peak <= 3 * len(header), peak


def test_many_empty_tensors_in_a_large_header_load_in_bounded_memory(tmp_path):
    entries = {f"t{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(20_000)}
    path = tmp_path / "m.safetensors"
    path.write_bytes(safetensors_bytes(json.dumps(entries)))
    checkpoint = load_state(path)
    assert len(checkpoint.tensors) == 20_000


@pytest.mark.parametrize("header,why", [
    ('{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "extra": 1}}', "unexpected field 'extra'"),
    ('{"w": {"dtype": "F32", "shape": [1]}}', "lacks data_offsets"),
    ('{"w": {"dtype": "F32", "dtype": "F32"}}', "duplicate key 'dtype'"),
    ('{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}} trailing', "unexpected text"),
    ('{"w": {"dtype": "F32", "shape": [1e0], "data_offsets": [0, 4]}}', "invalid shape [1e0]"),
    ('{"__metadata__": {"a": 1}}', "values must be strings"),
])
def test_safetensors_header_grammar(tmp_path, header, why):
    path = tmp_path / "m.safetensors"
    path.write_bytes(safetensors_bytes(header, b"\0" * 4))
    with pytest.raises(GraphtoolsError) as info:
        load_state(path)
    assert str(info.value).startswith(f"{path}: invalid safetensors file") and why in str(info.value)


def test_safetensors_written_with_spaces_and_any_field_order_loads(tmp_path):
    path = tmp_path / "m.safetensors"
    header = ' { "__metadata__" : { "k" : "v" } , "w" : { "data_offsets" : [ 0 , 8 ] , "shape" : [ 2 ] ,' \
             ' "dtype" : "F32" } } '
    path.write_bytes(safetensors_bytes("{" + header[2:], np.array([1.5, 2.5], "<f4").tobytes()))
    checkpoint = load_state(path)
    assert checkpoint.tensors["w"].tolist() == [1.5, 2.5] and checkpoint.metadata == {"k": "v"}


# ---------------------------------------------------------------- the memory budget


def test_budget_refuses_before_loading(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    write_safetensors(path, {"w": np.ones((100, 100), np.float32)})
    monkeypatch.setenv(budget.ENV_VAR, "10k")
    with pytest.raises(GraphtoolsError, match=r"loading .* would need about 40\.0 kB of memory, more than the limit "
                                              r"of 10\.0 kB"):
        load_state(path)
    monkeypatch.setenv(budget.ENV_VAR, "1M")
    assert load_state(path).tensors["w"].shape == (100, 100)


def test_default_limit_is_half_the_ram(monkeypatch):
    monkeypatch.delenv(budget.ENV_VAR, raising=False)
    assert budget.max_memory() == int(0.5 * budget.physical_ram())
    assert budget.parse_size("1.5GiB") == 3 * 2**29 and budget.parse_size("512M") == 512 * 10**6
    for bad in ("", "-1G", "4X", "nan", "0"):
        with pytest.raises(GraphtoolsError, match="invalid memory size"):
            budget.parse_size(bad)


def test_max_memory_option_refuses_with_the_estimate(monkeypatch):
    monkeypatch.delenv(budget.ENV_VAR, raising=False)
    try:
        result = run("--max-memory", "1M", "unfold", "-T", "1000", EXAMPLE)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: measuring the graph unfolded over 1,000 steps")
        assert "more than the limit of 1.0 MB" in lines[0]
        result = run("unfold", "-T", str(10**9), "--format", "graphml", EXAMPLE)
        assert result.exit_code == 1 and "error: writing the unfolded graph" in result.output
        assert "TB of memory" in result.output
    finally:
        budget.set_max_memory(None)
        os.environ.pop(budget.ENV_VAR, None)


def test_training_that_cannot_fit_is_refused_before_building(mnist, tmp_path):
    try:
        result = run("--max-memory", "4G", "train", "--hidden", "100000", "--data", mnist, "-o", tmp_path / "m.npz")
    finally:
        budget.set_max_memory(None)
        os.environ.pop(budget.ENV_VAR, None)
    assert result.exit_code == 1 and result.output.startswith("error: training a lstm of hidden size 100000")
    assert not (tmp_path / "m.npz").exists()


# ---------------------------------------------------------------- CIFAR pickles


class _Allocate:
    def __reduce__(self):  # np.ndarray((10**6, 3072), 'u1'): 3 GB of uninitialised memory from a tiny file
        return np.ndarray, ((10**6, 3072), "u1")


def test_pickle_calling_ndarray_cannot_allocate():
    evil = pickle.dumps({"data": _Allocate(), "labels": []}, protocol=2)
    assert len(evil) < 100
    with pytest.raises(GraphtoolsError, match="calling numpy.ndarray is not allowed"):
        safe_load("evil.pkl", evil)


def test_cifar_unpickler_admits_only_uint8_and_int64(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.float64), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(GraphtoolsError, match="dtype float64"):
        read_py_batch(str(path))
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                   b"labels": np.array([0, 1], np.int64)}, protocol=4))
    data, labels = read_py_batch(str(path))
    assert data.shape == (2, 3072) and labels.tolist() == [0, 1]


def test_declared_array_length_must_match_the_bytes_present():
    data = pickle.dumps(np.zeros((4, 3072), np.uint8), protocol=2)
    short = data.replace(b"K\x04M\x00\x0c\x86", b"J@B\x0f\x00M\x00\x0c\x86")  # claim 10**6 rows
    assert short != data
    with pytest.raises(GraphtoolsError, match="corrupt or unsupported pickle"):
        safe_load("short.pkl", short)


def test_cifar_batch_of_more_images_than_documented_is_refused(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({"data": np.zeros((10_001, 3072), np.uint8), "labels": [0] * 10_001}, protocol=4))
    with pytest.raises(GraphtoolsError, match="holds 1 to 10000 images, this one 10001"):
        read_py_batch(str(path))


# ---------------------------------------------------------------- numeric options


@pytest.mark.parametrize("args,message", [
    (["--lr", "nan"], "'--lr': must be a finite number"),
    (["--lr", "inf"], "'--lr': must be a finite number"),
    (["--clip", "nan"], "'--clip': must be a finite number"),
    (["--seed", "-1"], "'--seed': -1 is not in the range"),
    (["--epochs", str(10**21)], "'--epochs': 1000000000000000000000 is not in the range 1<=x<=100000"),
])
def test_train_refuses_numbers_that_are_not_numbers(mnist, tmp_path, args, message):
    result = run("train", "--data", mnist, "--hidden", "4", "-o", tmp_path / "m.npz", *args)
    assert result.exit_code == 2 and message in result.output and "internal error" not in result.output
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("args,message", [
    (["check", EXAMPLE, "--min-spectral-gap", "nan"], "'--min-spectral-gap': must be a finite number"),
    (["check", EXAMPLE, "--min-reachability", "inf", "--steps", "3"], "'--min-reachability': must be a finite"),
    (["prune", EXAMPLE, "-o", "x.npz", "--method", "random", "--sparsity", "nan"], "'--sparsity': must be a finite"),
    (["prune", EXAMPLE, "-o", "x.npz", "--method", "random", "--sparsity", "0.5", "--seed", "-1"],
     "'--seed': -1 is not in the range"),
])
def test_other_commands_refuse_nan_and_bad_seeds(args, message):
    result = run(*args)
    assert result.exit_code == 2 and message in result.output


def test_library_validators_agree():
    for bad in (float("nan"), float("inf"), -float("inf"), "1", True):
        with pytest.raises(GraphtoolsError):
            check_finite(bad, "lr")
    for bad in (-1, 2**63, 1.0, True):
        with pytest.raises(GraphtoolsError, match="seed must be a whole number >= 0"):
            check_seed(bad)
    assert check_seed(np.int64(3)) == 3


def test_fit_refuses_nan_learning_rate_and_negative_seed():
    from graphtools.nn import SequenceClassifier, fit

    model = SequenceClassifier("rnn", 2, 3, 1, 2)
    x, y = np.zeros((4, 3, 2), np.float32), np.array([0, 1, 0, 1])
    with pytest.raises(GraphtoolsError, match="learning rate must be a finite number"):
        fit(model, x, y, epochs=1, lr=float("nan"))
    with pytest.raises(GraphtoolsError, match="seed must be a whole number >= 0"):
        fit(model, x, y, epochs=1, seed=-1)


def test_rules_from_a_config_file_refuse_nan(tmp_path):
    config = tmp_path / "rules.toml"
    config.write_text("[check]\nmin_spectral_gap = nan\n")
    result = run("check", EXAMPLE, "--config", config)
    assert result.exit_code == 1 and "min-spectral-gap must be a finite number" in result.output


# ---------------------------------------------------------------- training metadata and sweeps


def test_checkpoint_records_the_worker_count(mnist, tmp_path):
    result = run("train", "--cell", "rnn", "--hidden", "4", "--data", mnist, "--epochs", "1", "--limit", "50",
                 "--workers", "2", "--batch-size", "16", "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.output
    meta = json.loads(load_state(tmp_path / "m.npz").metadata["graphtools.meta"])
    assert meta["workers"] == 2


def test_sweep_resume_removes_its_stale_temporaries(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "checkpoints").mkdir()
    stale = [tmp_path / ".tmp-abc123", tmp_path / "figures" / ".tmp-x1", tmp_path / "checkpoints" / ".tmp-y2"]
    keep = [tmp_path / "results.jsonl", tmp_path / "figures" / "gap.png", tmp_path / "notes" / ".tmp-other"]
    (tmp_path / "notes").mkdir()
    for path in stale + keep:
        path.write_text("x")
    assert sorted(remove_stale_temporaries(str(tmp_path))) == sorted(map(str, stale))
    assert not any(p.exists() for p in stale) and all(p.exists() for p in keep)


def test_full_disk_while_appending_a_record_is_a_graphtools_error(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(GraphtoolsError, match="cannot append the record .No space left on device"):
        append_record(tmp_path / "results.jsonl", {"key": "a"})


def test_evaluate_refuses_a_nan_noise_level():
    result = run("evaluate", EXAMPLE, "--data", "x", "--noise-snr", "nan")
    assert result.exit_code == 2 and "'--noise-snr': must be a finite number" in result.output


@pytest.mark.parametrize("line,message", [
    ("epochs = 1000000000000000000000", "epochs must be at most 100,000"),
    ("seeds = [0, 9223372036854775808]", "seeds must be a whole number >= 0"),
    ("lr = nan", "lr must be a positive number"),
])
def test_sweep_configs_are_held_to_the_same_bounds(tmp_path, line, message):
    from graphtools.experiments import load_config, preset_text

    text = preset_text("quick").replace("epochs = 10\n", "").replace("seeds = [0, 1]\n", "")
    config = tmp_path / "sweep.toml"
    config.write_text(text.replace("[sweep]\n", f"[sweep]\n{line}\n", 1))
    with pytest.raises(GraphtoolsError, match=message):
        load_config(config)
