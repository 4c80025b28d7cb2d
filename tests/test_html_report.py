"""``analyze --format html`` and ``check --html``: structure of the self-contained report page."""

import base64
import dataclasses
import os
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from graphtools.analysis import ModelReport, analyze_checkpoint
from graphtools.html_report import CSP, render_html
from test_plot_checkpoint import small_state
from test_plots import assert_one_line_error, run


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "lstm.npz"
    np.savez(path, **small_state())
    return path


@pytest.fixture(scope="module")
def full_report(checkpoint):
    """The page of ``analyze --gates --bounds --unfold 3``, rendered once for the module."""
    output = checkpoint.parent / "report.html"
    result = run("analyze", checkpoint, "--format", "html", "--gates", "--bounds", "--unfold", "3", "-o", output)
    assert result.exit_code == 0, result.output
    return output.read_text(encoding="utf-8")


@pytest.fixture
def quick_figures(monkeypatch):
    """Figures still built, but rasterised as a 1×1 PNG: for tests of the page's other parts."""
    import io

    from matplotlib.figure import Figure

    buffer = io.BytesIO()
    Figure(figsize=(0.01, 0.01)).savefig(buffer, format="png", dpi=100)
    monkeypatch.setattr("graphtools.html_report.figure_png", lambda fig, dpi=None: buffer.getvalue())


class Page(HTMLParser):
    """What a test needs of a page: the tables (rows of cell texts) under each h2 id, every
    attribute value, the img sources, the ids and the text of <style> and <script>."""

    def __init__(self, text):
        super().__init__()
        self.tables, self.attributes, self.images, self.ids, self.order = {}, [], [], [], []
        self.section, self.row, self.cell, self.tag_stack = None, None, None, []
        self.style = self.script = ""
        self.headers = {}
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attributes += [(tag, k, v) for k, v in attrs.items()]
        self.tag_stack.append(tag)
        if "id" in attrs:
            self.ids.append(attrs["id"])
            if tag == "h2":
                self.section = attrs["id"]
                self.order.append(self.section)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "tr":
            self.row = []
        if tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if self.tag_stack:
            self.tag_stack.pop()
        if tag in ("td", "th") and self.row is not None:
            self.row.append((tag, self.cell.strip()))
            self.cell = None
        if tag == "tr" and self.row is not None:
            kinds = {k for k, _ in self.row}
            cells = [c for _, c in self.row]
            if kinds == {"th"}:
                self.headers.setdefault(self.section, cells)
            else:
                self.tables.setdefault(self.section, []).append(cells)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        if self.tag_stack and self.tag_stack[-1] == "style":
            self.style += data
        if self.tag_stack and self.tag_stack[-1] == "script":
            self.script += data


#: What would make a browser fetch something: a URL with a scheme or a protocol-relative one in
#: an attribute, a CSS url() or @import, a script/fetch call to the network.
EXTERNAL = re.compile(r"(https?:|ftp:|ws:|wss:)//|@import|url\(|fetch\(|XMLHttpRequest|\.src\s*=", re.I)


def assert_self_contained(text):
    page = Page(text)
    for tag, key, value in page.attributes:
        if key in ("src", "href", "action", "data", "poster", "srcset"):
            assert value.startswith(("data:", "#")), (tag, key, value[:80])
    assert not EXTERNAL.search(page.style) and not EXTERNAL.search(page.script)
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I)  # no URL anywhere, even in text
    assert f'content="{CSP}"' in text and "default-src 'none'" in CSP
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    return page


def test_analyze_html_has_every_layer_and_nothing_external(checkpoint, full_report):
    text = full_report
    assert text.startswith("<!doctype html>") and text.rstrip().endswith("</html>")
    page = assert_self_contained(text)
    report = analyze_checkpoint(checkpoint, gates=True)
    rows = page.tables["matrices"]
    assert [(r[0], r[1]) for r in rows] == [(layer.name, layer.gate or "-") for layer in report.layers]
    assert len(rows) == 21
    header = page.headers["matrices"]
    for row, layer in zip(rows, report.layers):
        assert row[header.index("σ2")] == f"{layer.sigma2:.4f}"
        assert row[header.index("Ramanujan")] == ("yes" if layer.is_ramanujan else "no")
        assert row[header.index("shape")] == f"{layer.shape[0]}×{layer.shape[1]}"
    figures = [i for i in page.ids if i.startswith("figure-")]
    assert figures == ["figure-layers", "figure-spectra", "figure-degrees", "figure-unfold"]
    assert len(page.images) == 4
    assert "lstm.npz" in text


def test_bounds_and_unfold_sections(checkpoint, full_report):
    page = Page(full_report)
    assert page.order == ["architecture", "matrices", "figures", "bounds", "unfolded"]
    report = analyze_checkpoint(checkpoint, gates=True)
    assert [(r[0], r[1]) for r in page.tables["bounds"]] == [(layer.name, layer.gate or "-") for layer in report.layers]
    assert any(h.startswith("cheeger") for h in page.headers["bounds"])
    assert [(r[0], r[1]) for r in page.tables["unfolded"]] == [("0", "forward"), ("1", "forward")]


def test_sections_follow_the_options(tmp_path, checkpoint, quick_figures):
    output = tmp_path / "report.html"
    assert run("analyze", checkpoint, "--format", "html", "-o", output).exit_code == 0
    page = assert_self_contained(output.read_text(encoding="utf-8"))
    assert page.order == ["architecture", "matrices", "figures"]
    assert len(page.tables["matrices"]) == 5 and len(page.images) == 3


def test_check_html_puts_rule_results_on_top(tmp_path, checkpoint, quick_figures):
    output = tmp_path / "check.html"
    result = run("check", checkpoint, "--require-ramanujan", "*", "--html", output)
    assert result.exit_code == 3, result.output  # fc.weight (two disjoint K(2,3)) is not Ramanujan
    page = assert_self_contained(output.read_text(encoding="utf-8"))
    assert page.order[:2] == ["checks", "architecture"]
    checks = page.tables["checks"]
    assert len(checks) == 5
    assert ["FAIL", "require-ramanujan", "fc.weight"] == checks[-1][:3]
    assert [r[0] for r in checks] == ["PASS" if layer.is_ramanujan else "FAIL"
                                      for layer in analyze_checkpoint(checkpoint).layers]
    assert "FAILED" in output.read_text(encoding="utf-8")
    result = run("check", checkpoint, "--max-isolated", "1000", "--html", output)
    assert result.exit_code == 0
    assert "5 rule checks: all passed" in output.read_text(encoding="utf-8")


def test_fields_without_a_section_still_appear(checkpoint, quick_figures):
    """A field another part of graphtools adds to the JSON report (a new layer measure, a new
    report section) is shown: as a matrices column, or as its own JSON section."""
    report = analyze_checkpoint(checkpoint)

    @dataclasses.dataclass(frozen=True)
    class Extended(ModelReport):
        def to_dict(self):
            d = super().to_dict()
            for i, layer in enumerate(d["layers"]):
                layer["future_measure"] = 10.0 + i
            d["future_section"] = [{"name": "embedding.weight", "reason": "not 2-D"}]
            return d

    text = render_html(Extended(**{f.name: getattr(report, f.name) for f in dataclasses.fields(report)}))
    page = Page(text)
    header = page.headers["matrices"]
    assert header[-1] == "future_measure"
    assert [r[-1] for r in page.tables["matrices"]] == [f"{10.0 + i:.4f}" for i in range(len(report.layers))]
    assert "<h2>future_section</h2>" in text and "embedding.weight" in text


def test_bad_input_writes_nothing(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model\n")
    assert_one_line_error(run("analyze", tmp_path / "notes.txt", "--format", "html", "-o", tmp_path / "r.html"),
                          "unrecognised checkpoint format")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
