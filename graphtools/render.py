"""Render a :class:`~graphtools.analysis.ModelReport` as an aligned table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json

from graphtools.analysis import ModelReport
from graphtools.text import aligned_table, format_number

FORMATS = ("table", "json", "csv")


def render_json_object(obj) -> str:
    """Indented JSON with no NaN or Infinity (missing values are null)."""
    return json.dumps(obj, indent=2, allow_nan=False) + "\n"


def render_json(report: ModelReport) -> str:
    """The JSON contract of ``graphtools analyze``."""
    return render_json_object(report.to_dict())


def render_csv(report: ModelReport) -> str:
    """One CSV row per layer; nested fields flattened (``inputs_degree_min``, ``weighted_sigma1``),
    ``shape`` as ``rows``/``cols``, ``biregular`` as ``biregular_c``/``biregular_d``; null is empty.
    Only analysed matrices are rows: the skipped tensors and the notes are in the table and the JSON.
    The columns are the union of every row's fields in first-seen order (gate rows and small
    graphs add fields such as ``bounds_exact_*``); a field a row lacks is empty."""
    rows = [layer.flat() for layer in report.layers]
    fields = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


_COLUMNS = ("name", "gate", "shape", "density", "in deg", "out deg", "comp",
            "sigma1", "sigma2", "gap", "norm gap", "bound", "delta_r", "ramanujan", "cover", "ramanujan (cover)",
            "biregular", "|W| gap")


def render_table(report: ModelReport) -> str:
    """A human table, one row per matrix (and per gate block when present)."""
    lines = [f"checkpoint: {report.checkpoint} ({report.format})"]
    if len(report.modules) > 1:
        lines.append(f"architecture: {len(report.modules)} recurrent modules")
        lines += [f"  module {m['prefix']!r}: {_summary(m)}" for m in report.modules]
    elif report.architecture["cell"]:
        lines.append(f"architecture: {_summary(report.architecture)}")
    else:
        lines.append("architecture: no recurrent module; generic linear layers only")
    rows = []
    for layer in report.layers:
        rows.append((
            layer.name,
            layer.gate or "-",
            f"{layer.shape[0]}x{layer.shape[1]}",
            format_number(layer.density, 3),
            f"{layer.inputs.degree_min}-{layer.inputs.degree_max}",
            f"{layer.outputs.degree_min}-{layer.outputs.degree_max}",
            str(layer.components),
            format_number(layer.sigma1),
            format_number(layer.sigma2),
            format_number(layer.spectral_gap),
            format_number(layer.normalized_gap),
            format_number(layer.ramanujan_bound),
            format_number(layer.ramanujan_gap),
            format_number(layer.is_ramanujan),
            format_number(layer.cover_bound),
            format_number(layer.is_ramanujan_cover),
            "-" if layer.biregular is None else f"({layer.biregular[0]},{layer.biregular[1]})",
            format_number(layer.weighted.spectral_gap),
        ))
    lines += [""] + aligned_table(_COLUMNS, rows, left=2)
    if any(layer.bounds for layer in report.layers):
        lines += ["", "expansion bounds:", ""] + _bounds_table(report)
    unfolded_all = report.unfolded_modules or ([report.unfolded] if report.unfolded is not None else [])
    for unfolded in unfolded_all:
        lines += [""] + _unfolded_table(unfolded, named=len(unfolded_all) > 1)
    if report.skipped:
        lines += ["", f"skipped: {len(report.skipped)} tensor(s) not analysed"]
        cells = [(s["name"], "x".join(map(str, s["shape"])) or "scalar", s["reason"]) for s in report.skipped]
        widths = [max(len(c[i]) for c in cells) for i in range(2)]
        lines += [f"  {n.ljust(widths[0])}  {shape.ljust(widths[1])}  {reason}" for n, shape, reason in cells]
    if report.notes:
        lines += [""] + [f"note: {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def _summary(arch: dict) -> str:
    direction = "bidirectional" if arch["bidirectional"] else "unidirectional"
    proj = f", proj {arch['proj_size']}" if arch["proj_size"] else ""
    return (f"{arch['cell'].upper()}, {arch['num_layers']} layer(s), {direction}, "
            f"input {arch['input_size']}, hidden {arch['hidden_size']}{proj}")


def _interval(pair) -> str:
    return "-" if pair is None else f"[{format_number(pair[0])}, {format_number(pair[1])}]"


def _bounds_table(report: ModelReport) -> list[str]:
    header = ("name", "gate", "mixing coef", "cheeger interval", "tanner |N(X)|/|X| a=0.1", "imdb",
              "exact phi", "exact h_E", "exact vertex exp")
    rows = []
    for layer in report.layers:
        b = layer.bounds or {}
        cheeger = b.get("cheeger")
        tanner = b.get("tanner")
        exact = b.get("exact") or {}
        tanner_cell = "-"
        if tanner:
            tanner_cell = format_number(dict(zip(tanner["alpha"], tanner["min_neighbours_per_node"])).get(0.1))
        rows.append((
            layer.name, layer.gate or "-",
            f"{b['mixing']['form'][:4]} {format_number(b['mixing']['coefficient'])}" if b.get("mixing") else "-",
            _interval(None if cheeger is None else (cheeger["lower"], cheeger["upper"])),
            tanner_cell, format_number(b.get("imdb")),
            format_number(exact.get("conductance")), format_number(exact.get("edge_expansion")), format_number(exact.get("vertex_expansion")),
        ))
    return aligned_table(header, rows, left=2)


def _unfolded_table(unfolded, named: bool = False) -> list[str]:
    where = f"module {unfolded.module!r} " if named else ""
    lines = [
        f"{where}unfolded over {unfolded.steps} steps ({unfolded.gates} gates): {unfolded.totals.nodes} nodes, "
        f"{unfolded.totals.edges} edges, lambda1 {format_number(unfolded.totals.lambda1)}, "
        f"lambda2 {format_number(unfolded.totals.lambda2)}, gap {format_number(unfolded.totals.eigengap, 6)}",
        "",
    ]
    header = ("layer", "direction", "step shape", "density", "sigma2", "bound", "ramanujan",
              "cover", "ramanujan (cover)", "reachability", "mixing depth", "lambda1", "lambda2", "layer gap")
    rows = []
    for layer in unfolded.layers:
        for d in layer.directions:
            step = d.step
            rows.append((
                str(layer.layer), d.direction, f"{step.shape[0]}x{step.shape[1]}", format_number(step.density, 3),
                format_number(step.sigma2), format_number(step.ramanujan_bound), format_number(step.is_ramanujan),
                format_number(step.cover_bound), format_number(step.is_ramanujan_cover), format_number(d.reachability), format_number(d.mixing_depth), format_number(layer.totals.lambda1),
                format_number(layer.totals.lambda2), format_number(layer.totals.eigengap, 6),
            ))
    return lines + aligned_table(header, rows, left=2)


RENDERERS = {"table": render_table, "json": render_json, "csv": render_csv}
