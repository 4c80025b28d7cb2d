"""One self-contained HTML file for one checkpoint (``analyze --format html``, ``check --html``).

The page holds everything it shows: figures as base64 PNG ``data:`` images, styles in one
``<style>`` element and a small inline script that sorts table columns. It names no external
resource, and a Content-Security-Policy ``<meta>`` (``default-src 'none'``) makes a browser
refuse any fetch anyway, so it reads the same offline, as a CI artifact or a pull-request
attachment. Sections: rule results (``check --html``), architecture, the matrices table
(one row per matrix or gate block, every field of the JSON report), the figures of
:mod:`graphtools.plots.checkpoint` (layers with every row; spectra and degrees of whole
matrices), the expansion bounds (``--bounds``), the unfolded graph (``--unfold T``), and any
further field of the JSON report as JSON.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os

from graphtools import __version__
from graphtools.analysis import ModelReport
from graphtools.loading import read_checkpoint
from graphtools.model import ModelDescription
from graphtools.plots.checkpoint import (
    DEFAULT_K, checkpoint_degrees_figure, checkpoint_graphs, checkpoint_layers_figure, checkpoint_spectra_figure,
    checkpoint_unfold_figure, pair_reports,
)
from graphtools.render import format_number

#: Resolution of the inlined figures.
FIGURE_DPI = 96
#: Content-Security-Policy of the page: nothing may be fetched; inline styles, script and data: images only.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
#: Top-level fields of ``ModelReport.to_dict()`` that have their own section.
_SECTIONED = ("checkpoint", "format", "architecture", "layers", "modules", "unfolded")
#: The matrices table: header and path into ``LayerReport.to_dict()``; other fields follow as columns.
_LAYER_COLUMNS = (
    ("matrix", ("name",)), ("gate", ("gate",)), ("shape", ("shape",)), ("density", ("density",)),
    ("σ1", ("sigma1",)), ("σ2", ("sigma2",)), ("bound", ("ramanujan_bound",)), ("Δr", ("ramanujan_gap",)),
    ("Ramanujan", ("is_ramanujan",)), ("gap σ1−σ2", ("spectral_gap",)), ("norm gap", ("normalized_gap",)),
    ("Δs", ("delta_s",)), ("nnz", ("nnz",)), ("in deg min", ("inputs", "degree_min")),
    ("in deg max", ("inputs", "degree_max")), ("out deg min", ("outputs", "degree_min")),
    ("out deg max", ("outputs", "degree_max")), ("isolated in", ("inputs", "isolated")),
    ("isolated out", ("outputs", "isolated")), ("components", ("components",)), ("biregular", ("biregular",)),
    ("|W| σ1", ("weighted", "sigma1")), ("|W| σ2", ("weighted", "sigma2")), ("|W| gap", ("weighted", "spectral_gap")),
)
_OWN_FIELDS = {path[0] for _, path in _LAYER_COLUMNS} | {"bounds"}

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:1.5em auto;
max-width:1400px;padding:0 1em;color:#1b1b1b;background:#fff;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
.meta{color:#555;margin-top:0}table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #d0d0d0;padding:.2em .5em;text-align:right;white-space:nowrap}
th{background:#f0f0f0;position:sticky;top:0}td.text,th.text{text-align:left}
table.sortable th{cursor:pointer}table.sortable th:hover{background:#e2e2e2}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
tbody tr:nth-child(even){background:#fafafa}.scroll{overflow-x:auto}
.pass{color:#17701b;font-weight:600}.fail{color:#b3161b;font-weight:600}.undefined{color:#777}
.banner{padding:.6em 1em;border-radius:4px;font-weight:600}
.banner.pass{background:#e6f4e7}.banner.fail{background:#fbe7e8}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#444;font-size:.9em}pre{background:#f6f6f6;padding:.6em;overflow-x:auto}
"""

_SCRIPT = """
(function(){
  function key(cell){
    var v = cell.getAttribute('data-v');
    if (v !== null) { return v === '' ? null : parseFloat(v); }
    var t = cell.textContent.trim();
    return t === '-' ? null : t.toLowerCase();
  }
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('th').forEach(function(th){
      th.title = 'sort by ' + th.textContent;
      th.addEventListener('click', function(){
        var col = th.cellIndex, body = table.tBodies[0];
        var up = th.getAttribute('aria-sort') !== 'ascending';
        table.querySelectorAll('th').forEach(function(h){ h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function(a, b){
          var x = key(a.cells[col]), y = key(b.cells[col]);
          if (x === null || y === null) { return (x === null) - (y === null); }
          var c = x < y ? -1 : (x > y ? 1 : 0);
          return up ? c : -c;
        });
        rows.forEach(function(r){ body.appendChild(r); });
      });
    });
  });
  document.body.setAttribute('data-sortable', 'ready');
})();
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _at(d: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _cell(value, digits: int = 4, verdict: bool = False) -> str:
    """A ``<td>``: numbers right-aligned with a ``data-v`` sort key, lists as ``a×b``, text left;
    with ``verdict``, a boolean is coloured (yes green, no red)."""
    if value is None:
        return '<td data-v="">-</td>'
    if isinstance(value, bool):
        cls = f' class="{"pass" if value else "fail"}"' if verdict else ""
        return f'<td{cls} data-v="{int(value)}">{"yes" if value else "no"}</td>'
    if isinstance(value, (int, float)):
        return f'<td data-v="{value!r}">{_e(format_number(value, digits))}</td>'
    if isinstance(value, (list, tuple)):
        numbers = [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
        shown = "×".join(format_number(v, 3) for v in value) if len(numbers) == len(value) else json.dumps(value)
        return f'<td class="text">{_e(shown)}</td>'
    if isinstance(value, dict):
        return f'<td class="text">{_e(json.dumps(value))}</td>'
    return f'<td class="text">{_e(value)}</td>'


def _table(headers, rows, sortable: bool = True, text_columns: int = 1) -> str:
    head = "".join(f'<th class="text">{_e(h)}</th>' if i < text_columns else f"<th>{_e(h)}</th>"
                   for i, h in enumerate(headers))
    body = "\n".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    cls = ' class="sortable"' if sortable else ""
    return f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>'


def flatten_fields(d: dict, prefix: str = "") -> dict:
    """Nested dicts as one level with ``a.b`` keys (lists and scalars kept as values)."""
    out = {}
    stack = [(prefix, d)]
    while stack:
        base, current = stack.pop(0)
        for key, value in current.items():
            name = f"{base}{key}"
            if isinstance(value, dict):
                stack.append((name + ".", value))
            else:
                out[name] = value
    return out


def _layers_section(layer_dicts: list[dict]) -> str:
    extra: dict[str, None] = {}
    for d in layer_dicts:  # fields of the JSON report the fixed columns do not show, in order of appearance
        for key, value in d.items():
            if key not in _OWN_FIELDS:
                for name in (flatten_fields(value, key + ".") if isinstance(value, dict) else {key: value}):
                    extra.setdefault(name, None)
    headers = [h for h, _ in _LAYER_COLUMNS] + list(extra)
    rows = []
    for d in layer_dicts:
        flat = flatten_fields(d)
        cells = [_cell(_at(d, path), verdict=path == ("is_ramanujan",)) for _, path in _LAYER_COLUMNS]
        cells[0] = f'<td class="text">{_e(d.get("name"))}</td>'
        cells[1] = f'<td class="text">{_e(d.get("gate") or "-")}</td>'
        rows.append(cells + [_cell(flat.get(name)) for name in extra])
    return ("<h2 id=\"matrices\">Matrices</h2>\n<p>One row per 2-D weight (and gate block with <code>--gates</code>); "
            "σ of the binary graph 1[W ≠ 0], |W| of the weighted one; Ramanujan: σ2 ≤ the average-degree bound "
            "√(d_in − 1) + √(d_out − 1) (docs/measures.md). Click a column header to sort.</p>\n"
            + _table(headers, rows, text_columns=2))


def _bounds_section(layer_dicts: list[dict]) -> str:
    flats = [flatten_fields(d["bounds"]) for d in layer_dicts if isinstance(d.get("bounds"), dict)]
    names: dict[str, None] = {}
    for flat in flats:
        for name in flat:
            names.setdefault(name, None)
    rows = []
    for d in layer_dicts:
        if isinstance(d.get("bounds"), dict):
            flat = flatten_fields(d["bounds"])
            rows.append([f'<td class="text">{_e(d.get("name"))}</td>',
                         f'<td class="text">{_e(d.get("gate") or "-")}</td>'] + [_cell(flat.get(n)) for n in names])
    return ("<h2 id=\"bounds\">Expansion bounds</h2>\n<p>Mixing lemma, Cheeger interval, Tanner's vertex expansion "
            "(per fraction α), IMDB and, on small graphs, exact values (docs/measures.md).</p>\n"
            + _table(["matrix", "gate", *names], rows, text_columns=2))


def _unfolded_section(unfolded: dict, figure: str) -> str:
    totals = ", ".join(f"{k} {format_number(unfolded.get(k), 6)}" for k in ("nodes", "edges", "lambda1", "lambda2",
                                                                              "eigengap"))
    rows = []
    for layer in unfolded.get("layers", []):
        for d in layer.get("directions", []):
            step = d.get("step", {})
            rows.append([_cell(layer.get("layer")), f'<td class="text">{_e(d.get("direction"))}</td>',
                         _cell(step.get("shape")), _cell(step.get("density")), _cell(step.get("sigma2")),
                         _cell(step.get("ramanujan_bound")), _cell(step.get("is_ramanujan"), verdict=True),
                         _cell(d.get("reachability")), _cell(d.get("mixing_depth")), _cell(layer.get("lambda1")),
                         _cell(layer.get("lambda2")), _cell(layer.get("eigengap"), 6)])
    headers = ["layer", "direction", "step shape", "density", "σ2", "bound", "Ramanujan", "reachability",
               "mixing depth", "λ1", "λ2", "layer gap"]
    return (f"<h2 id=\"unfolded\">Unfolded over {_e(unfolded.get('steps'))} steps ({_e(unfolded.get('gates'))} "
            f"gates)</h2>\n<p>Whole unfolded graph: {_e(totals)}.</p>\n"
            + _table(headers, rows, text_columns=0) + "\n" + figure)


def _checks_section(checks) -> str:
    failed = len(checks.failures)
    verdict = "all passed" if not failed else f"{failed} FAILED"
    rows = [[f'<td class="text {"pass" if r.passed else "fail"}">{"PASS" if r.passed else "FAIL"}</td>',
             f'<td class="text">{_e(r.rule)}</td>', f'<td class="text">{_e(r.subject)}</td>',
             _cell(r.measured),
             f'<td class="text">{_e(r.detail)}</td>'] for r in checks.results]
    banner = f'<p class="banner {"fail" if failed else "pass"}">{len(checks.results)} rule checks: {verdict}</p>'
    return ("<h2 id=\"checks\">Rule results</h2>\n" + banner + "\n"
            + _table(["result", "rule", "subject", "measured", "detail"], rows, text_columns=3))


def _architecture_section(report: dict) -> str:
    arch = report.get("architecture") or {}
    rows = [[f'<td class="text">{_e(k)}</td>', _cell(v) if not isinstance(v, str) else f'<td class="text">{_e(v)}</td>']
            for k, v in arch.items()]
    out = "<h2 id=\"architecture\">Architecture</h2>\n"
    if not arch.get("cell"):
        out += "<p>No recurrent module; generic linear layers only.</p>\n"
    out += _table(["field", "value"], rows, sortable=False)
    if report.get("modules"):
        out += "\n<p>Recurrent modules:</p>\n" + _table(
            ["prefix", *[k for k in report["modules"][0] if k != "prefix"]],
            [[f'<td class="text">{_e(m.get("prefix"))}</td>'] + [_cell(v) if not isinstance(v, str) else
                                                                  f'<td class="text">{_e(v)}</td>'
                                                                  for k, v in m.items() if k != "prefix"]
             for m in report["modules"]])
    return out


def figure_png(fig, dpi: int = FIGURE_DPI) -> bytes:
    """The PNG bytes of a matplotlib figure (Agg)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _figure(fig, figure_id: str, caption: str) -> str:
    data = base64.b64encode(figure_png(fig)).decode("ascii")
    return (f'<figure id="{_e(figure_id)}"><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def render_html(report: ModelReport, *, checks=None, model: ModelDescription | None = None, k: int = DEFAULT_K) -> str:
    """The report of ``analyze`` (and, with ``checks``, the rule results of ``check`` on top) as one
    self-contained HTML page (module docstring). ``model`` is the checkpoint's description, read
    from ``report.checkpoint`` when not given, for the figures.

    Example
    -------
    >>> import os, tempfile, numpy as np
    >>> from graphtools.analysis import analyze_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> np.savez(path, **{"rnn.weight_ih_l0": np.eye(3), "rnn.weight_hh_l0": np.ones((3, 3))})
    >>> page = render_html(analyze_checkpoint(path))
    >>> page.startswith("<!doctype html>"), "rnn.weight_hh_l0" in page
    (True, True)
    """
    if model is None:
        model = read_checkpoint(report.checkpoint).model
    data = report.to_dict()
    layer_dicts = data["layers"]
    name = os.path.basename(report.checkpoint)
    # spectra and degrees of whole matrices only: gate blocks are rows of the table and the layers figure
    matrices = pair_reports(checkpoint_graphs(model), [layer for layer in report.layers if layer.gate is None])
    figures = []
    if report.layers:
        figures.append(_figure(checkpoint_layers_figure(report.layers, source=report.checkpoint), "figure-layers",
                               "σ2 of every matrix against the average-degree Ramanujan bound (green: Ramanujan, "
                               "red: not), density and isolated nodes."))
    if matrices:
        figures.append(_figure(checkpoint_spectra_figure(matrices, source=report.checkpoint, k=k), "figure-spectra",
                               f"The top {k} singular values of every whole matrix with σ1 (star) and the bound "
                               "(dotted)."))
        figures.append(_figure(checkpoint_degrees_figure([m.graph for m in matrices], source=report.checkpoint),
                               "figure-degrees", "Input-degree (columns) and output-degree (rows) histograms of "
                               "every whole matrix."))
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>graphtools report: {_e(name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>graphtools report: {_e(name)}</h1>",
        f'<p class="meta">checkpoint <code>{_e(report.checkpoint)}</code> ({_e(report.format)}), '
        f"{len(report.layers)} matrices, graphtools {_e(__version__)}</p>",
    ]
    if checks is not None:
        parts.append(_checks_section(checks))
    parts.append(_architecture_section(data))
    parts.append(_layers_section(layer_dicts))
    parts.append("<h2 id=\"figures\">Figures</h2>\n" + "\n".join(figures))
    if any(isinstance(d.get("bounds"), dict) for d in layer_dicts):
        parts.append(_bounds_section(layer_dicts))
    if report.unfolded is not None and model.modules:
        fig = checkpoint_unfold_figure(model, source=report.checkpoint, steps=report.unfolded.steps)
        parts.append(_unfolded_section(data["unfolded"], _figure(
            fig, "figure-unfold", "Reachability over the unfolded steps per layer direction; dotted: mixing depth.")))
    for key, value in data.items():  # fields of the JSON report without a section of their own
        if key not in _SECTIONED:
            parts.append(f"<h2>{_e(key)}</h2>\n<pre>{_e(json.dumps(value, indent=2))}</pre>")
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"
