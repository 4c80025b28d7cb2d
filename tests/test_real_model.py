"""A real trained public model: the encoder GRU of g2p_en 2.1.0 (tests/data/README.md), custom names."""

import os

import numpy as np
import pytest

from graphtools.analysis import analyze_checkpoint
from graphtools.loading import DENSE_NOTE
from graphtools.spectral import top_singular_values

PATH = os.path.join(os.path.dirname(__file__), "data", "g2p_en_encoder_gru_f16.npz")
RENAME = (r"^enc_w_(ih|hh)$=enc.weight_\1_l0",)
METHOD = "sparse"  # ARPACK: top-2 singular values of these 768 x 256 matrices in well under a second


def test_g2p_en_encoder_needs_a_rename_and_is_dense():
    plain = analyze_checkpoint(PATH, method=METHOD)
    assert plain.architecture["cell"] is None
    hint = next(n for n in plain.notes if "look like" in n)
    assert "enc_w_ih [768, 256] and enc_w_hh [768, 256]" in hint and "GRU (hidden 256)" in hint
    assert DENSE_NOTE in plain.notes
    report = analyze_checkpoint(PATH, rename=RENAME, method=METHOD)
    assert report.architecture == {"cell": "gru", "num_layers": 1, "bidirectional": False, "input_size": 256,
                                   "hidden_size": 256, "proj_size": 0}
    assert [layer.name for layer in report.layers] == ["enc.weight_ih_l0", "enc.weight_hh_l0"]
    assert all(layer.density == 1.0 and layer.sigma2 == 0.0 for layer in report.layers)
    assert DENSE_NOTE in report.notes


def test_g2p_en_encoder_thresholded_matches_numpy():
    report = analyze_checkpoint(PATH, rename=RENAME, threshold_rel=0.1, method=METHOD)
    assert DENSE_NOTE not in report.notes
    state = np.load(PATH)
    for layer, key in zip(report.layers, ("enc_w_ih", "enc_w_hh")):
        W = state[key].astype(np.float64)
        B = (np.abs(W) > 0.1 * np.abs(W).max()).astype(float)
        s = np.linalg.svd(B, compute_uv=False)
        assert 0 < layer.density < 1 and layer.nnz == int(B.sum())
        assert layer.sigma1 == pytest.approx(s[0], rel=1e-9) and layer.sigma2 == pytest.approx(s[1], rel=1e-9)

