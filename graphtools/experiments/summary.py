"""The CSV summary of a sweep: one row per run, the scalars of its record."""

from __future__ import annotations

import csv
import io

from graphtools.atomic import write_atomic

#: Record fields copied as they are, in this order.
RUN_COLUMNS = ("key", "status", "model", "cell", "hidden_size", "num_layers", "dataset", "method", "sparsity", "seed",
               "actual_sparsity", "accuracy", "accuracy_pruned", "dense_accuracy", "loss", "seconds", "reason")
#: Per pruned weight and step layer: ``<layer name>.<measure>``.
LAYER_COLUMNS = ("density", "sigma2", "spectral_gap", "normalized_gap", "ramanujan_gap", "is_ramanujan")


def summary_rows(records: list[dict]) -> tuple[list[str], list[dict]]:
    """``(header, rows)``: run fields, ``summary.*``, ``accuracy_snr_<dB>`` and per-layer measures."""
    header = list(RUN_COLUMNS)
    rows = []
    for record in records:
        row = {k: record.get(k) for k in RUN_COLUMNS}
        row["hidden_size"] = record.get("hidden_size", record.get("hidden"))  # "hidden" in older records
        for name, value in (record.get("summary") or {}).items():
            row[f"summary.{name}"] = value
        for entry in record.get("noise") or []:
            row[f"accuracy_snr_{entry['snr_db']:g}"] = entry["accuracy"]
        for layer in record.get("layers") or []:
            for measure in LAYER_COLUMNS:
                row[f"{layer['name']}.{measure}"] = layer.get(measure)
        for column in row:
            if column not in header:
                header.append(column)
        rows.append(row)
    return header, rows


def write_summary(path: str, records: list[dict]) -> None:
    """Write the CSV summary of ``records`` atomically (empty cells for missing values)."""
    header, rows = summary_rows(records)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    write_atomic(path, buffer.getvalue())
