"""ONNX and Keras files and layouts: the same numbers as the PyTorch layout of the same weights."""

import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from formatfiles import (keras2_datasets, keras3_datasets, keras_weights, onnx_weights, write_h5,
                         write_keras_zip, write_onnx)
from graphtools.analysis import analyze_checkpoint
from graphtools.cli import main
from graphtools.errors import GraphtoolsError
from statedicts import sparsify, torch_state

pytest.importorskip("onnx")
pytest.importorskip("h5py")

OPS = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def numbers(report: dict) -> list:
    """The measured part of every layer row (names left out)."""
    return [{k: v for k, v in layer.items() if k != "name"} for layer in report["layers"]]


def assert_close(a, b, tol=1e-12):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_close(a[key], b[key], tol)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_close(x, y, tol)
    elif isinstance(a, float) and not isinstance(b, bool):
        assert b == pytest.approx(a, abs=tol, rel=tol)
    else:
        assert a == b


def torch_file(tmp_path, state, name="torch.npz"):
    path = tmp_path / name
    np.savez(path, **state)
    return path


def report_of(path, **options):
    return analyze_checkpoint(path, gates=True, **options).to_dict()


def sparse_state(cell, bidirectional=False, layers=1, input_size=5, hidden=6, prefix="rnn.", seed=0):
    return sparsify(torch_state(cell, input_size, hidden, layers, bidirectional, prefix=prefix, seed=seed), 0.5,
                    seed=seed + 1)


# ------------------------------------------------------------------ ONNX


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_onnx_node_equals_the_pytorch_layout(tmp_path, cell, bidirectional):
    state = sparse_state(cell, bidirectional)
    W, R, B = onnx_weights(state, "rnn.", cell)
    attrs = {"linear_before_reset": 1} if cell == "gru" else {}
    path = write_onnx(tmp_path / "m.onnx", [(OPS[cell], "rnn", W, R, B, attrs)])
    got, want = report_of(path), report_of(torch_file(tmp_path, state))
    assert got["format"] == "onnx"
    assert got["architecture"] == want["architecture"]
    assert [layer["name"] for layer in got["layers"]] == [layer["name"] for layer in want["layers"]]
    assert_close(numbers(got), numbers(want))
    assert got["skipped"] == want["skipped"]  # B became bias_ih / bias_hh, 1-D, listed


def test_onnx_gru_notes_linear_before_reset_and_reverse(tmp_path):
    state = sparse_state("gru")
    W, R, B = onnx_weights(state, "rnn.", "gru")
    path = write_onnx(tmp_path / "m.onnx", [("GRU", "rnn", W, R, B, {"direction": "reverse"})])
    report = report_of(path)
    assert any("linear_before_reset=0" in n and "PyTorch's GRU uses 1" in n for n in report["notes"])
    assert any("reverse only" in n for n in report["notes"])
    assert_close(numbers(report), numbers(report_of(torch_file(tmp_path, state))))


def test_onnx_layout_in_npz_and_safetensors_is_recognised(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    state = sparse_state("lstm", bidirectional=True)
    W, R, B = onnx_weights(state, "rnn.", "lstm")
    exported = {"rnn.W": W, "rnn.R": R, "rnn.B": B, "fc.weight": np.ones((3, 12), np.float32)}
    np.savez(tmp_path / "onnx.npz", **exported)
    st.save_file(exported, str(tmp_path / "onnx.safetensors"))
    want = report_of(torch_file(tmp_path, dict(state, **{"fc.weight": exported["fc.weight"]})))
    for name in ("onnx.npz", "onnx.safetensors"):
        got = report_of(tmp_path / name)
        assert got["architecture"] == want["architecture"]
        assert_close(numbers(got), numbers(want))


def test_real_pytorch_lstm_exported_to_onnx(tmp_path):
    torch = pytest.importorskip("torch")
    import warnings

    torch.manual_seed(0)
    model = torch.nn.LSTM(5, 4, bidirectional=True)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_((torch.rand_like(p) < 0.5).float())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(3, 1, 5),), str(tmp_path / "m.onnx"), dynamo=False)
    want = report_of(torch_file(tmp_path, {k: v.numpy() for k, v in model.state_dict().items()}))
    got = report_of(tmp_path / "m.onnx")
    assert got["architecture"]["modules"][0].pop("prefix") == "/LSTM."
    want["architecture"]["modules"][0].pop("prefix")
    assert got["architecture"] == want["architecture"]
    assert_close(numbers(got), numbers(want))


def test_the_false_pass_on_an_onnx_lstm_is_now_exit_1(tmp_path):
    """Initializer names as torch.onnx.export writes them: before, '*LSTM*' matched only the bias B."""
    state = sparse_state("lstm")
    W, R, B = onnx_weights(state, "rnn.", "lstm")
    names = {0: ("onnx::LSTM_139", "onnx::LSTM_140", "onnx::LSTM_138")}
    path = write_onnx(tmp_path / "m.onnx", [("LSTM", "/lstm/LSTM", W, R, B, {})], names=names)
    bias_only = run("check", path, "--require-ramanujan", "onnx::LSTM_138")
    assert bias_only.exit_code == 1 and bias_only.output.startswith("error: ")
    assert "matches no 2-D weight matrix" in bias_only.output
    result = run("check", path, "--require-ramanujan", "*LSTM*")
    assert "/lstm/LSTM.weight_ih_l0" in result.output and "/lstm/LSTM.weight_hh_l0" in result.output
    # the initializers exported to .npz under torch's names: the bias B (1, 8H) used to be the only
    # "weight" '*LSTM*' matched (a star graph, trivially Ramanujan): PASS, exit 0. Now: exit 1.
    np.savez(tmp_path / "raw.npz", **{"onnx::LSTM_138": B, "onnx::LSTM_139": W, "onnx::LSTM_140": R})
    nothing = run("check", tmp_path / "raw.npz", "--require-ramanujan", "*LSTM*")
    assert nothing.exit_code == 1 and nothing.output.startswith("error: ") and "\n" == nothing.output[-1]
    assert nothing.output.count("\n") == 1
    assert "look like ONNX LSTM weights W and R" in nothing.output and "--rename" in nothing.output
    np.savez(tmp_path / "raw_fc.npz", **{"onnx::LSTM_138": B, "onnx::LSTM_139": W, "onnx::LSTM_140": R,
                                         "fc.weight": np.ones((3, 6), np.float32)})
    report = json.loads(run("analyze", tmp_path / "raw_fc.npz", "--format", "json").output)
    assert [layer["name"] for layer in report["layers"]] == ["fc.weight"]
    assert {s["name"] for s in report["skipped"]} == {"onnx::LSTM_138", "onnx::LSTM_139", "onnx::LSTM_140"}
    assert any("look like ONNX LSTM" in note for note in report["notes"])
    fixed = run("check", tmp_path / "raw_fc.npz", "--require-ramanujan", "*LSTM*")
    assert fixed.exit_code == 1 and "matches no 2-D weight matrix" in fixed.output
    renamed = run("check", tmp_path / "raw_fc.npz", "--require-ramanujan", "lstm.weight*",
                  "--rename", "^onnx::LSTM_138$=lstm.B", "--rename", "^onnx::LSTM_139$=lstm.W",
                  "--rename", "^onnx::LSTM_140$=lstm.R")
    assert renamed.exit_code in (0, 3) and "lstm.weight_ih_l0" in renamed.output and "lstm.weight_hh_l0" in renamed.output


def test_multi_module_onnx(tmp_path):
    enc = sparse_state("lstm", prefix="enc.", input_size=5, hidden=6, seed=2)
    dec = sparse_state("gru", prefix="dec.", input_size=6, hidden=4, seed=4)
    We, Re, Be = onnx_weights(enc, "enc.", "lstm")
    Wd, Rd, Bd = onnx_weights(dec, "dec.", "gru")
    path = write_onnx(tmp_path / "m.onnx", [("LSTM", "enc", We, Re, Be, {}),
                                             ("GRU", "dec", Wd, Rd, Bd, {"linear_before_reset": 1})])
    report = json.loads(run("analyze", path, "--format", "json", "--unfold", "3").output)
    modules = report["architecture"]["modules"]
    assert [(m["prefix"], m["cell"], m["input_size"], m["hidden_size"]) for m in modules] == [
        ("dec.", "gru", 6, 4), ("enc.", "lstm", 5, 6)]
    assert [u["module"] for u in report["unfolded_modules"]] == ["dec.", "enc."]
    assert report["unfolded"] == report["unfolded_modules"][0]
    torch_path = torch_file(tmp_path, {**enc, **dec})
    want = json.loads(run("analyze", torch_path, "--format", "json", "--unfold", "3").output)
    assert_close(report["unfolded_modules"], want["unfolded_modules"])
    table = run("analyze", path, "--unfold", "3").output
    assert "architecture: 2 recurrent modules" in table
    assert "module 'dec.': GRU, 1 layer(s), unidirectional, input 6, hidden 4" in table
    assert "module 'enc.': LSTM, 1 layer(s), unidirectional, input 5, hidden 6" in table
    assert "module 'enc.' unfolded over 3 steps" in table and "module 'dec.' unfolded over 3 steps" in table
    only = json.loads(run("analyze", path, "--format", "json", "--unfold", "3", "--module", "enc").output)
    assert only["unfolded"]["module"] == "enc." and "unfolded_modules" not in only
    both = json.loads(run("unfold", path, "--steps", "2").output)
    assert [m["module"] for m in both["modules"]] == ["dec.", "enc."]
    one = json.loads(run("unfold", path, "--steps", "2", "--module", "dec.").output)
    assert one["module"] == "dec."
    graphml = run("unfold", path, "--steps", "2", "--format", "graphml")
    assert graphml.exit_code == 1 and "--module PREFIX" in graphml.output
    assert run("unfold", path, "--steps", "2", "--format", "edgelist", "--module", "enc").exit_code == 0
    bad = run("unfold", path, "--steps", "2", "--module", "nope")
    assert bad.exit_code == 1 and "modules: 'dec', 'enc'" in bad.output
    reach = run("check", path, "--min-reachability", "0", "--steps", "2", "--module", "enc")
    assert reach.exit_code == 0 and "enc layer 0 forward" in reach.output and "dec layer" not in reach.output


@pytest.mark.parametrize("content", [b"", b"\x08\x07garbage that is not protobuf \xff\xff\xff"])
def test_corrupt_onnx_is_one_error_line(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    result = run("analyze", path)
    assert result.exit_code == 1 and result.output.startswith("error: ") and result.output.count("\n") == 1


def test_onnx_tensor_claiming_more_than_it_holds(tmp_path):
    import onnx
    from onnx import helper

    tensor = onnx.TensorProto(name="W", data_type=onnx.TensorProto.FLOAT, dims=[100000, 100000], raw_data=b"\0" * 16)
    graph = helper.make_graph([], "g", [], [], initializer=[tensor])
    onnx.save(helper.make_model(graph), str(tmp_path / "big.onnx"))
    result = run("analyze", tmp_path / "big.onnx")
    assert result.exit_code == 1 and "truncated or corrupt" in result.output and result.output.count("\n") == 1


def test_onnx_external_data_is_refused(tmp_path):
    import onnx
    from onnx import helper, numpy_helper

    tensor = numpy_helper.from_array(np.ones((40, 40), np.float32), "W")
    graph = helper.make_graph([], "g", [], [], initializer=[tensor])
    onnx.save(helper.make_model(graph), str(tmp_path / "ext.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="ext.data", size_threshold=0)
    result = run("analyze", tmp_path / "ext.onnx")
    assert result.exit_code == 1 and "external file" in result.output and result.output.count("\n") == 1


def test_onnx_shapes_contradicting_the_operator(tmp_path):
    state = sparse_state("gru")
    W, R, B = onnx_weights(state, "rnn.", "gru")
    path = write_onnx(tmp_path / "m.onnx", [("LSTM", "rnn", W, R, B, {})])
    result = run("analyze", path)
    assert result.exit_code == 1 and "LSTM node 'rnn'" in result.output and result.output.count("\n") == 1


def test_missing_extras_name_the_extra(tmp_path, monkeypatch):
    import sys

    state = sparse_state("gru")
    W, R, B = onnx_weights(state, "rnn.", "gru")
    onnx_path = write_onnx(tmp_path / "m.onnx", [("GRU", "rnn", W, R, B, {})])
    h5_path = write_h5(str(tmp_path / "m.h5"), {"a": np.ones((2, 2))})
    monkeypatch.setitem(sys.modules, "onnx", None)
    monkeypatch.setitem(sys.modules, "h5py", None)
    result = run("analyze", onnx_path)
    assert result.exit_code == 1 and "graphtools[onnx]" in result.output and result.output.count("\n") == 1
    result = run("analyze", h5_path)
    assert result.exit_code == 1 and "graphtools[keras]" in result.output and result.output.count("\n") == 1


def test_torchscript_is_refused_with_the_conversion(tmp_path):
    with zipfile.ZipFile(tmp_path / "m.pt", "w") as archive:
        archive.writestr("m/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("m/code/__torch__.py", "")
    result = run("analyze", tmp_path / "m.pt")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "numpy.savez(" in result.output and "torch.jit.load(" in result.output


# ------------------------------------------------------------------ Keras


@pytest.mark.parametrize("cell,bias", [("lstm", "standard"), ("lstm", "cudnn"), ("gru", "standard"),
                                       ("gru", "cudnn"), ("gru", "reset_after"), ("rnn", "standard")])
def test_keras2_h5_equals_the_pytorch_layout(tmp_path, cell, bias):
    state = sparse_state(cell, layers=2)
    layers = {name: keras_weights(state, "rnn.", cell, k, bias=bias) for k, name in enumerate(["lstm", "lstm_1"])}
    path = write_h5(str(tmp_path / "m.h5"), keras2_datasets(layers))
    got, want = report_of(path), report_of(torch_file(tmp_path, state))
    assert got["format"] == "keras"
    assert got["architecture"] == dict(want["architecture"], modules=[
        dict(want["architecture"]["modules"][0], prefix="lstm/lstm")])
    assert_close(numbers(got), numbers(want))
    assert not any("optimizer" in s["name"] for s in got["skipped"])


@pytest.mark.parametrize("keras_file", ["h5", "keras"])
def test_keras3_bidirectional_equals_the_pytorch_layout(tmp_path, keras_file):
    state = sparse_state("lstm", bidirectional=True)
    layers = {"bidirectional/forward_layer": keras_weights(state, "rnn.", "lstm"),
              "bidirectional/backward_layer": keras_weights(state, "rnn.", "lstm", suffix="_reverse")}
    datasets = keras3_datasets(layers)
    datasets["layers/dense/vars/0"] = np.ones((12, 3), np.float32)
    datasets["layers/dense/vars/1"] = np.zeros(3, np.float32)
    if keras_file == "h5":
        path = write_h5(str(tmp_path / "m.weights.h5"), datasets)
    else:
        path = write_keras_zip(tmp_path / "m.keras", datasets)
    got = report_of(path)
    want = report_of(torch_file(tmp_path, dict(state, **{"fc.weight": np.ones((3, 12), np.float32)})))
    assert got["architecture"]["bidirectional"] and got["architecture"]["modules"][0]["prefix"] == "layers/bidirectional"
    assert [layer["name"] for layer in got["layers"]][-1] == "layers/dense/kernel"
    assert_close(numbers(got), numbers(want))


def test_keras2_bidirectional_with_nested_model(tmp_path):
    state = sparse_state("gru", bidirectional=True)
    layers = {"bidirectional/forward_gru": keras_weights(state, "rnn.", "gru", bias="reset_after"),
              "bidirectional/backward_gru": keras_weights(state, "rnn.", "gru", suffix="_reverse",
                                                          bias="reset_after")}
    datasets = {k.replace("model_weights/", "model_weights/encoder/"): v
                for k, v in keras2_datasets(layers).items()}
    got = report_of(write_h5(str(tmp_path / "m.h5"), datasets))
    assert_close(numbers(got), numbers(report_of(torch_file(tmp_path, state))))
    assert got["architecture"]["modules"][0]["prefix"] == "encoder/bidirectional/bidirectional"


def test_keras_layouts_in_npz(tmp_path):
    state = sparse_state("lstm")
    k, rk, b = keras_weights(state, "rnn.", "lstm", bias="cudnn")
    np.savez(tmp_path / "k2.npz", **{"cu_dnnlstm/kernel:0": k, "cu_dnnlstm/recurrent_kernel:0": rk,
                                      "cu_dnnlstm/bias:0": b})
    np.savez(tmp_path / "k3.npz", **{"layers/lstm/cell/vars/0": k, "layers/lstm/cell/vars/1": rk,
                                      "layers/lstm/cell/vars/2": b[:24]})
    want = numbers(report_of(torch_file(tmp_path, state)))
    assert_close(numbers(report_of(tmp_path / "k2.npz")), want)
    assert_close(numbers(report_of(tmp_path / "k3.npz")), want)


def test_cudnn_bias_of_wrong_length_is_one_error(tmp_path):
    state = sparse_state("lstm")
    k, rk, b = keras_weights(state, "rnn.", "lstm")
    np.savez(tmp_path / "k.npz", **{"lstm/kernel:0": k, "lstm/recurrent_kernel:0": rk, "lstm/bias:0": b[:-1]})
    result = run("analyze", tmp_path / "k.npz")
    assert result.exit_code == 1 and "CuDNNLSTM" in result.output and result.output.count("\n") == 1


def test_hostile_h5_files(tmp_path):
    import h5py

    good = write_h5(str(tmp_path / "good.h5"), {"lstm/kernel:0": np.ones((50, 80), np.float32)})
    data = open(good, "rb").read()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\xff" * 100)
    with h5py.File(tmp_path / "huge.h5", "w") as f:
        f.create_dataset("w", shape=(10**6, 10**6), dtype="f8")  # no data stored: fill value only
    with h5py.File(tmp_path / "text.h5", "w") as f:
        f["names"] = np.array([b"a", b"b"])
    with zipfile.ZipFile(tmp_path / "nothing.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    for name, message in [("cut.h5", "HDF5"), ("junk.h5", "HDF5"), ("huge.h5", "claims"),
                          ("text.h5", "non-numeric"), ("nothing.keras", "model.weights.h5")]:
        result = run("analyze", tmp_path / name)
        assert result.exit_code == 1, name
        assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
        assert message in result.output, (name, result.output)


def test_prune_an_onnx_model_writes_the_pytorch_layout(tmp_path):
    state = sparse_state("gru", bidirectional=True)
    W, R, B = onnx_weights(state, "rnn.", "gru")
    path = write_onnx(tmp_path / "m.onnx", [("GRU", "rnn", W, R, B, {"linear_before_reset": 1})])
    torch_path = torch_file(tmp_path, state)
    for source, out in ((path, "from_onnx.npz"), (torch_path, "from_torch.npz")):
        result = run("prune", source, "-o", tmp_path / out, "--method", "magnitude", "--sparsity", "0.5")
        assert result.exit_code == 0, result.output
    got, want = np.load(tmp_path / "from_onnx.npz"), np.load(tmp_path / "from_torch.npz")
    assert sorted(got) == sorted(want)
    for key in want:
        assert np.array_equal(got[key], want[key]), key
