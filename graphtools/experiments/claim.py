"""The controlled test of the paper's claim (issue 14): matched-degree masks, paired seeds, two arms.

For every model and seed a dense parent is trained.  For every sparsity three masks of the
recurrent weights (``W_ih`` and ``W_hh``, each pruned to the sparsity on its own) are built
from that parent:

* ``magnitude``: keep the largest ``|w|`` (:func:`graphtools.prune.magnitude_mask`);
* ``expander`` and ``poor``: that magnitude mask rewired by degree-preserving double-edge
  swaps (:func:`graphtools.rewiring.rewire`, what ``graphtools prune --method rewire
  --target expander|poor`` runs) towards a smaller / larger ``sigma_2``.  Both keep every row
  and column degree of the magnitude mask, so the three masks have identical sparsity and
  identical degree sequences; only the wiring differs.

Each mask is used in two arms:

* ``finetune``: the parent's weights, masked, fine-tuned with the mask fixed;
* ``scratch``: a fresh initialisation (seed ``init_offset + seed``, the same for every mask of
  a seed) trained from scratch with the mask fixed: the topology alone.

Optional extras: ``array-code`` masks trained from scratch, and an ablation that prunes only
``W_ih`` or only ``W_hh`` by magnitude (fine-tune arm).

Every run appends one JSON record to ``results.jsonl`` as soon as it finishes (flushed and
synced), and a rerun skips every key already there, so the sweep resumes where it stopped.
Records carry the masks' measures (both Ramanujan definitions: the average-degree bound
and the universal-cover bound; the step layer ``[U_ih | U_hh]``; the unfolded graph), the
trained weights' weighted gaps, and the software and machine (numpy, scipy, BLAS, CPU).
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from graphtools import __version__
from graphtools.data.load import load_dataset
from graphtools.errors import GraphtoolsError
from graphtools.experiments.claim_report import MASKS
from graphtools.experiments.config import ModelSpec, bundled_file
from graphtools.experiments.measure import measure_model, reached_sparsity, summarize
from graphtools.experiments.results import append_record, read_records, repair_results
from graphtools.io import load_state
from graphtools.model import describe
from graphtools.nn.classifier import SequenceClassifier, load_model
from graphtools.nn.run import build_and_fit
from graphtools.nn.training import evaluate
from graphtools.prune import InfeasibleSparsity, prune_state
from graphtools.tomlfile import tomllib

#: Presets shipped as graphtools/experiments/presets/<name>.toml (a ``[claim]`` table).
CLAIM_PRESETS = ("claim-seqmnist", "claim-quick")
ARMS = ("finetune", "scratch")
#: Extra runs: array-code masks from scratch; magnitude pruning of W_ih only / W_hh only.
EXTRAS = ("array-code", "ih-only", "hh-only")
SCHEMA = 1


@dataclass(frozen=True)
class Phase:
    """Runs done together, in order: ``part`` ("main" or "extras") of ``model`` for ``seeds``."""

    model: str
    part: str
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class ClaimConfig:
    name: str
    dataset: str
    data: str
    models: tuple[ModelSpec, ...]
    sparsities: tuple[float, ...]
    phases: tuple[Phase, ...]
    limit: int | None = None
    dense_epochs: int = 3
    finetune_epochs: int = 1
    scratch_epochs: int = 2
    batch_size: int = 128
    lr: float = 1e-3
    finetune_lr: float = 1e-3
    clip: float = 1.0
    rewire_steps: int = 200
    init_offset: int = 1000
    ablation_sparsity: float = 0.9
    unfold_steps: int = 28
    extra: dict = field(default_factory=dict)

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        raise GraphtoolsError(f"{self.name}: no model {name!r} (models: {', '.join(m.name for m in self.models)})")

    def settings(self) -> dict:
        return {"dataset": self.dataset, "limit": self.limit, "dense_epochs": self.dense_epochs,
                "finetune_epochs": self.finetune_epochs, "scratch_epochs": self.scratch_epochs,
                "batch_size": self.batch_size, "lr": self.lr, "finetune_lr": self.finetune_lr, "clip": self.clip,
                "rewire_steps": self.rewire_steps, "init_offset": self.init_offset,
                "unfold_steps": self.unfold_steps}


def config_from_dict(raw: dict, source: str, data: str | None = None) -> ClaimConfig:
    """A :class:`ClaimConfig` from the ``[claim]`` table of a TOML document; ``data`` replaces
    its data path.  GraphtoolsError (one line) for anything missing or malformed."""
    table = raw.get("claim")
    if not isinstance(table, dict):
        raise GraphtoolsError(f"{source}: needs a [claim] table")
    try:
        models = tuple(ModelSpec(str(m["name"]), str(m["cell"]), int(m.get("hidden_size", m.get("hidden"))))
                       for m in table["models"])  # "hidden": older configs
        phases = tuple(Phase(str(p["model"]), str(p["part"]), tuple(int(s) for s in p["seeds"]))
                       for p in table["phases"])
        known = {k: table[k] for k in ("limit", "dense_epochs", "finetune_epochs", "scratch_epochs", "batch_size",
                                       "lr", "finetune_lr", "clip", "rewire_steps", "init_offset",
                                       "ablation_sparsity", "unfold_steps") if k in table}
        config = ClaimConfig(str(table["name"]), str(table["dataset"]), str(data or table.get("data", "")),
                             models, tuple(float(s) for s in table["sparsities"]), phases, **known)
    except (KeyError, TypeError, ValueError) as exc:
        raise GraphtoolsError(f"{source}: malformed [claim] table ({type(exc).__name__}: {exc})") from None
    for p in config.phases:
        config.model(p.model)
        if p.part not in ("main", "extras"):
            raise GraphtoolsError(f"{source}: a phase's part must be 'main' or 'extras', not {p.part!r}")
    if not config.data:
        raise GraphtoolsError(f"{source}: needs the data: pass --data PATH ({config.dataset}; see docs/data.md)")
    return config


def load_claim_preset(name: str, data: str | None = None) -> ClaimConfig:
    """Preset ``name`` (:data:`CLAIM_PRESETS`).  A relative data path of a preset names a file
    of the checkout (``claim-quick``: data/mnist_subset.npz)."""
    if name not in CLAIM_PRESETS:
        raise GraphtoolsError(f"unknown claim preset {name!r} (expected one of {', '.join(CLAIM_PRESETS)})")
    text = resources.files("graphtools.experiments").joinpath("presets", f"{name}.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    config = config_from_dict(raw, f"preset {name}", data) if data else None
    if config is None:
        rel = raw.get("claim", {}).get("data")
        if not rel:
            raise GraphtoolsError(f"preset {name} needs the data: pass --data PATH (see docs/data.md)")
        found = bundled_file(rel)
        if found is None:
            raise GraphtoolsError(f"preset {name}: the bundled {rel} was not found (run from a graphtools "
                                  "checkout, or pass --data PATH)")
        config = config_from_dict(raw, f"preset {name}", found)
    return config


# ------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class ClaimRun:
    """One run: ``arm`` is "dense", "finetune" or "scratch"; ``mask`` one of :data:`MASKS` or
    :data:`EXTRAS` (None for dense)."""

    model: ModelSpec
    arm: str
    mask: str | None
    sparsity: float
    seed: int

    @property
    def key(self) -> str:
        if self.arm == "dense":
            return f"{self.model.name}/dense/seed{self.seed}"
        return f"{self.model.name}/{self.arm}/{self.mask}/{self.sparsity:g}/seed{self.seed}"


def plan(config: ClaimConfig) -> list[ClaimRun]:
    """Every run, in the order the phases give; within a seed the dense parent first, then the
    fine-tune arm, then the scratch arm (so a seed's pairs complete together)."""
    runs = []
    for phase in config.phases:
        m = config.model(phase.model)
        for seed in phase.seeds:
            if phase.part == "main":
                runs.append(ClaimRun(m, "dense", None, 0.0, seed))
                runs += [ClaimRun(m, arm, mask, s, seed) for arm in ARMS for s in config.sparsities for mask in MASKS]
            else:
                runs += [ClaimRun(m, "scratch", "array-code", s, seed) for s in config.sparsities]
                runs += [ClaimRun(m, "finetune", part, config.ablation_sparsity, seed) for part in ("ih-only", "hh-only")]
    return runs


# ------------------------------------------------------------------ records file


def environment() -> dict:
    """numpy, scipy, BLAS (threadpoolctl), CPU, Python and graphtools versions of this process."""
    import scipy
    from threadpoolctl import threadpool_info

    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # make sure BLAS is loaded
    blas = [{k: info.get(k) for k in ("internal_api", "version", "architecture", "threading_layer", "num_threads")}
            for info in threadpool_info() if info.get("user_api") == "blas"]
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"numpy": np.__version__, "scipy": scipy.__version__, "blas": blas, "cpu": cpu,
            "cores": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
            "graphtools": __version__, "threads_env": os.environ.get("GRAPHTOOLS_THREADS")}


# ------------------------------------------------------------------ one run


class Runner:
    """Runs :class:`ClaimRun` s of one config: data loaded once, masks built once per
    (model, seed, sparsity) and kept in ``checkpoints``."""

    def __init__(self, config: ClaimConfig, checkpoints: str, log=None):
        self.config, self.checkpoints = config, checkpoints
        self.log = log or (lambda message: None)
        os.makedirs(checkpoints, exist_ok=True)
        c = config
        self.train = load_dataset(c.dataset, c.data, split="train", limit=c.limit)
        self.test = load_dataset(c.dataset, c.data, split="test", limit=c.limit)
        self.env = environment()
        self._masks: dict = {}

    def path(self, run: ClaimRun) -> str:
        return os.path.join(self.checkpoints, run.key.replace("/", "-") + ".npz")

    def _fit(self, run: ClaimRun, path: str, *, epochs: int, lr: float, seed: int, init=None, masks=None):
        """A fresh model of ``run``'s architecture seeded with ``seed`` (or ``init``), ``masks`` fixed,
        trained by the same :func:`~graphtools.nn.run.build_and_fit` as ``train`` and sweeps."""
        m = run.model
        _, result = build_and_fit(self.train, self.test, output=path, seed=seed, cell=m.cell,
                                  hidden_size=m.hidden_size, num_layers=m.num_layers, init=init, masks=masks,
                                  batch_size=self.config.batch_size,
                                  meta={"dataset": self.config.dataset, "data_note": self.train.note},
                                  epochs=epochs, lr=lr, clip=self.config.clip, workers=1)
        return result

    def dense_path(self, run: ClaimRun) -> str:
        return self.path(ClaimRun(run.model, "dense", None, 0.0, run.seed))

    def masks(self, run: ClaimRun) -> tuple[dict, dict]:
        """``(masks, info)`` of ``run``'s mask (weight name -> bool) built from its dense parent."""
        key = (run.model.name, run.seed, run.sparsity, run.mask)
        if key in self._masks:
            return self._masks[key]
        dense = load_state(self.dense_path(run)).tensors
        seed = run.seed
        if run.mask in ("magnitude", "expander", "poor"):
            _, mag, _ = prune_state(dense, method="magnitude", sparsity=run.sparsity, seed=seed)
            for target in ("expander", "poor"):
                _, masks, report = prune_state(dense, method="rewire", sparsity=run.sparsity, seed=seed, target=target,
                                               steps=self.config.rewire_steps)
                same = all(np.array_equal(masks[n].sum(0), mag[n].sum(0)) and np.array_equal(masks[n].sum(1), mag[n].sum(1))
                           for n in mag)
                if not same:
                    raise GraphtoolsError(f"{run.key}: rewiring changed a degree sequence")
                rewires = {m.name: {"sigma2_start": m.rewire.sigma2_start, "sigma2_reached": m.rewire.sigma2_reached,
                                    "swaps": m.rewire.swaps, "steps": m.rewire.steps}
                           for m in report.matrices if m.rewire is not None}
                self._masks[key[:3] + (target,)] = (masks, {"degrees_match_magnitude": same, "rewire": rewires})
            self._masks[key[:3] + ("magnitude",)] = (mag, {})
        elif run.mask == "array-code":
            fresh = SequenceClassifier(run.model.cell, self.train.features, run.model.hidden_size, run.model.num_layers,
                                       self.train.num_classes, seed=self.config.init_offset + seed).params
            _, masks, report = prune_state(fresh, method="array-code", sparsity=run.sparsity, seed=seed)
            self._masks[key] = (masks, {})
        else:  # ih-only / hh-only: magnitude on one of the two
            other = "*weight_hh*" if run.mask == "ih-only" else "*weight_ih*"
            _, masks, _ = prune_state(dense, method="magnitude", sparsity=run.sparsity, seed=seed, exclude=[other])
            self._masks[key] = (masks, {})
        return self._masks[key]

    def execute(self, run: ClaimRun) -> dict:
        start = time.perf_counter()
        c, m = self.config, run.model
        path = self.path(run)
        base = {"schema": SCHEMA, "key": run.key, "claim": c.name, "model": m.name, "cell": m.cell, "hidden_size": m.hidden_size,
                "dataset": c.dataset, "data_note": self.train.note, "arm": run.arm, "mask": run.mask,
                "sparsity": run.sparsity, "seed": run.seed, "settings": c.settings()}
        info, accuracy_pruned = {}, None
        if run.arm == "dense":
            result = self._fit(run, path, epochs=c.dense_epochs, lr=c.lr, seed=run.seed)
        else:
            if not os.path.exists(self.dense_path(run)):
                raise GraphtoolsError(f"{run.key}: the dense parent {self.dense_path(run)} is missing")
            try:
                masks, info = self.masks(run)
            except InfeasibleSparsity as exc:
                return self._stamp({**base, "status": "infeasible", "reason": str(exc)}, start)
            if run.arm == "finetune":
                model = load_model(self.dense_path(run))
                model.set_masks({**model.masks, **masks})
                accuracy_pruned = evaluate(model, self.test.x, self.test.y).accuracy
                result = self._fit(run, path, epochs=c.finetune_epochs, lr=c.finetune_lr, seed=run.seed, init=model)
            else:
                init = c.init_offset + run.seed
                base["init_seed"] = init
                result = self._fit(run, path, epochs=c.scratch_epochs, lr=c.lr, seed=init, masks=masks)
        description = describe(load_state(path).tensors)
        layers, unfolded = measure_model(description, c.unfold_steps)
        return self._stamp({**base, "status": "ok", "accuracy": result.test.accuracy, "loss": result.test.loss,
                            "accuracy_pruned": accuracy_pruned, "actual_sparsity": reached_sparsity(description),
                            "epochs": result.epochs, **info, "layers": layers, "summary": summarize(layers),
                            "unfolded": unfolded, "checkpoint": os.path.basename(path)}, start)

    def _stamp(self, record: dict, start: float) -> dict:
        record.update(seconds=time.perf_counter() - start, environment=self.env,
                      finished=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        return record


def run_claim(config: ClaimConfig, out_dir: str, *, checkpoints: str | None = None, log=None,
              max_runs: int | None = None) -> list[str]:
    """Run every planned run whose key is not yet in ``out_dir/results.jsonl``, appending each
    record as it finishes; returns the keys run now.  ``checkpoints`` (default
    ``out_dir/checkpoints``) keeps the dense parents and each run's model."""
    os.makedirs(out_dir, exist_ok=True)
    results = os.path.join(out_dir, "results.jsonl")
    repair_results(results)  # a partial last line left by a kill
    done = {r["key"]: r for r in read_records(results)} if os.path.exists(results) else {}
    runner = None
    ran = []
    log = log or (lambda message: None)
    for run in plan(config):
        if max_runs is not None and len(ran) >= max_runs:
            break
        if run.key in done and (run.arm != "dense" or os.path.exists(
                os.path.join(checkpoints or os.path.join(out_dir, "checkpoints"), run.key.replace("/", "-") + ".npz"))):
            continue
        if runner is None:
            runner = Runner(config, checkpoints or os.path.join(out_dir, "checkpoints"), log)
        record = runner.execute(run)
        append_record(results, record)
        done[run.key] = record
        ran.append(run.key)
        log(f"{record['finished']} {run.key}: {record['status']} accuracy "
            f"{record.get('accuracy', float('nan')):.4f} in {record['seconds']:.1f} s")
    return ran
