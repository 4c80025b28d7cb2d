"""Sweeps that reproduce the paper: train -> prune -> fine-tune -> evaluate -> analyze.

``run_sweep(config, out_dir, jobs)`` runs every (model, seed) dense model and every
pruning method x sparsity x seed from it, appending one JSON record per finished
run to ``out_dir/results.jsonl`` (see :mod:`graphtools.experiments.results`), a CSV
summary and figures.  Configs come from TOML files (:func:`load_config`) or presets
(:func:`load_preset`: ``quick``, ``paper-seqmnist``, ``paper-speech``,
``paper-cifar10``).  docs/reproduction.md describes the record and the paper run.
"""

from graphtools.experiments.config import (
    PRESETS, TRAINERS, ModelSpec, SweepConfig, check_trainer, load_config, load_preset, preset_text, with_overrides,
)
from graphtools.experiments.results import (
    RESULTS_NAME, SCHEMA, SUMMARY_NAME, append_record, read_records, repair_results, results_path,
)
from graphtools.experiments.run import DENSE, RunSpec, execute, plan
from graphtools.experiments.summary import summary_rows, write_summary
from graphtools.experiments.sweep import SweepProgress, SweepResult, run_sweep

__all__ = [
    "PRESETS", "TRAINERS", "check_trainer", "ModelSpec", "SweepConfig", "load_config", "load_preset", "preset_text", "with_overrides",
    "RESULTS_NAME", "SCHEMA", "SUMMARY_NAME", "append_record", "read_records", "repair_results",
    "results_path", "DENSE", "RunSpec", "execute", "plan", "summary_rows", "write_summary",
    "SweepProgress", "SweepResult", "run_sweep",
]
