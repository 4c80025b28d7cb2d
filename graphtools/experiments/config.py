"""Sweep configurations: a TOML file or a named preset -> :class:`SweepConfig`.

A config has one ``[sweep]`` table and one ``[[model]]`` table per model::

    [sweep]
    dataset = "seq-mnist"
    data = "mnist.npz"            # relative paths: from the config file's folder
    methods = ["magnitude", "random", "biregular", "ramanujan-guard"]
    sparsities = [0.5, 0.8, 0.9]
    seeds = [0, 1, 2]
    epochs = 10                   # dense training
    finetune_epochs = 3           # after pruning, with the mask fixed

    [[model]]
    name = "lstm-h128"
    cell = "lstm"
    hidden = 128

Every key of :class:`SweepConfig` may appear in ``[sweep]`` (``-`` or ``_``); an
unknown key, a wrong type or an out-of-range value is a one-line error.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Literal
from importlib import resources

from graphtools.data.load import DATASETS
from graphtools.errors import GraphtoolsError
from graphtools.model import CELLS
from graphtools.prune.common import METHODS, SCOPES
from graphtools.tomlfile import read_toml, tomllib
from graphtools.validate import EPOCHS_MAX, check_scalar, check_seed

#: Presets shipped in graphtools/experiments/presets/<name>.toml.
PRESETS = ("quick", "paper-seqmnist", "paper-speech", "paper-cifar10")
#: Training backends: graphtools' numpy trainer, or PyTorch (the ``graphtools[torch]`` extra).
TRAINERS = ("numpy", "torch")
_DEVICE = re.compile(r"^(cpu|cuda|cuda:\d+)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


#: Older names of :class:`ModelSpec` fields, still read from configs and the settings of records
#: written before the fields took ``torch.nn``'s names.
LEGACY_MODEL_KEYS = {"hidden": "hidden_size", "layers": "num_layers"}


@dataclass(frozen=True)
class ModelSpec:
    """One architecture of the sweep; ``name`` labels its runs (and checkpoint files).  The sizes
    carry ``torch.nn``'s names, as :class:`graphtools.nn.SequenceClassifier` does."""

    name: str
    cell: str
    hidden_size: int
    num_layers: int = 1

    @property
    def hidden(self) -> int:
        """The older name of :attr:`hidden_size`."""
        return self.hidden_size

    @property
    def layers(self) -> int:
        """The older name of :attr:`num_layers`."""
        return self.num_layers


def model_settings(table: dict) -> dict:
    """A ``[[model]]`` table or a record's ``settings["model"]`` under the current key names
    (``hidden`` -> ``hidden_size``, ``layers`` -> ``num_layers``); other keys unchanged.

    Example
    -------
    >>> model_settings({"name": "m", "cell": "rnn", "hidden": 8, "layers": 1})
    {'name': 'm', 'cell': 'rnn', 'hidden_size': 8, 'num_layers': 1}
    """
    return {LEGACY_MODEL_KEYS.get(k, k): v for k, v in table.items()}


@dataclass(frozen=True)
class SweepConfig:
    """What a sweep runs: for every model and seed a dense model, then every method x sparsity.

    Fields that change a run's result are its *settings* (:meth:`settings`), stored in each
    record so that a resumed sweep never mixes runs made under different settings.
    """

    dataset: str
    models: tuple[ModelSpec, ...]
    methods: tuple[str, ...]
    sparsities: tuple[float, ...]
    data: str = ""  # file or folder; "" until given (e.g. by --data)
    seeds: tuple[int, ...] = (0,)
    name: str = "sweep"
    data_label: str = ""  # shown with the results, e.g. "synthetic stand-in (espeak-ng)"
    cluster: str = ""  # run on a Dask cluster: local:N, tcp://HOST:PORT or a scheduler file (not a setting)
    limit: int | None = None  # first N examples of each split
    epochs: int = 10
    finetune_epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    finetune_lr: float = 1e-3
    clip: float = 1.0
    rounds: int = 10  # ramanujan-guard
    scope: str = "layer"
    per_gate: bool = False
    unfold_steps: int | None = None  # None: the dataset's sequence length
    noise_snr: tuple[float, ...] = ()  # speech-commands: evaluate also at these SNRs (dB)
    words: tuple[str, ...] | None = None  # speech-commands: the classes
    cmvn: bool = False  # speech-commands: per-clip cepstral mean and variance normalization
    figures: tuple[str, ...] = ("accuracy", "gap", "spectra", "degrees", "noise")
    trainer: Literal["numpy", "torch"] = "numpy"  # same model, data order, optimiser, clipping and masks
    device: str = "cpu"  # torch trainer: cpu, cuda or cuda:N (recorded per run, not a setting)

    def settings(self, model: ModelSpec, dense: bool) -> dict:
        """The settings a run's result depends on (a dense run ignores the fine-tuning ones)."""
        s = {"dataset": self.dataset, "limit": self.limit, "model": dataclasses.asdict(model),
             "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "clip": self.clip,
             "noise_snr": list(self.noise_snr), "words": None if self.words is None else list(self.words),
             "cmvn": self.cmvn,
             "unfold_steps": self.unfold_steps, "trainer": self.trainer}
        if not dense:
            s.update(finetune_epochs=self.finetune_epochs, finetune_lr=self.finetune_lr, rounds=self.rounds,
                     scope=self.scope, per_gate=self.per_gate)
        return s

    def to_toml(self) -> str:
        """This config as a TOML document :func:`load_config` reads back to an equal config."""
        lines = ["[sweep]"]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "models" or value is None:
                continue
            lines.append(f"{f.name} = {_toml_value(value)}")
        for m in self.models:
            lines += ["", "[[model]]"] + [f"{k} = {_toml_value(v)}" for k, v in dataclasses.asdict(m).items()]
        return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


# ---------------------------------------------------------------- validation


def _fail(where: str, message: str) -> GraphtoolsError:
    return GraphtoolsError(f"{where}: {message}")


def _within(where, check, *args, **kwargs):
    """``check(*args, **kwargs)``, its message prefixed with where the value came from."""
    try:
        return check(*args, **kwargs)
    except GraphtoolsError as exc:
        raise _fail(where, str(exc)) from None


def _int(where, key, value, low=0):
    return _within(where, check_scalar, value, key, int, min_val=low)


def _seed(where, value):
    return _within(where, check_seed, value, "seeds")


def _positive(where, key, value):
    return _within(where, check_scalar, value, key, float, min_val=0, include_boundaries="right",
                   expected="a positive number")


def _list(where, key, value, check, allow_empty=False):
    if not isinstance(value, list) or (not value and not allow_empty):
        raise _fail(where, f"{key} must be a {'' if allow_empty else 'non-empty '}list, got {value!r}")
    items = tuple(check(v) for v in value)
    if len(set(items)) != len(items):
        raise _fail(where, f"{key} lists a value twice: {value!r}")
    return items


def _choice(where, what, allowed):
    def check(value):
        if value not in allowed:
            raise _fail(where, f"unknown {what} {value!r} (expected one of {', '.join(allowed)})")
        return value
    return check


def _word(where):
    def check(w):
        if not isinstance(w, str) or not w:
            raise _fail(where, f"words must list class folder names, got {w!r}")
        return w
    return check


def _sparsity(where):
    def check(s):
        return _within(where, check_scalar, s, "sparsities", float, min_val=0, max_val=1,
                       include_boundaries="neither", expected="strictly between 0 and 1")
    return check


def _snr(where):
    def check(s):
        return _within(where, check_scalar, s, "noise_snr", float, expected="a list of finite numbers of dB")
    return check


def check_trainer(config: SweepConfig, where: str = "sweep") -> SweepConfig:
    """``config`` if its ``trainer`` and ``device`` make sense together (a device other than the
    CPU needs the torch trainer); GraphtoolsError otherwise."""
    if config.trainer not in TRAINERS:
        raise _fail(where, f"trainer must be one of {', '.join(TRAINERS)}, got {config.trainer!r}")
    if not isinstance(config.device, str) or not _DEVICE.match(config.device):
        raise _fail(where, f"device must be cpu, cuda or cuda:N, got {config.device!r}")
    if config.device != "cpu" and config.trainer != "torch":
        raise _fail(where, f"device {config.device} needs the torch trainer (trainer = \"torch\", --trainer torch)")
    return config


def _model(where: str, table) -> ModelSpec:
    if not isinstance(table, dict):
        raise _fail(where, "each [[model]] must be a table")
    known = {f.name for f in dataclasses.fields(ModelSpec)}
    unknown = sorted(set(table) - known - set(LEGACY_MODEL_KEYS))
    if unknown:
        raise _fail(where, f"unknown [[model]] key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    for old, new in LEGACY_MODEL_KEYS.items():
        if old in table and new in table:
            raise _fail(where, f"a [[model]] gives both {new!r} and its older name {old!r}")
    size = next((k for k in ("hidden_size", "hidden") if k in table), None)
    depth = next((k for k in ("num_layers", "layers") if k in table), "num_layers")
    missing = [k for k, present in (("name", "name" in table), ("cell", "cell" in table), ("hidden_size", size))
               if not present]
    if missing:
        raise _fail(where, f"a [[model]] lacks {missing[0]!r}")
    name = table["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(where, f"model name {name!r} must be letters, digits, '-', '_' or '.' (it names files)")
    if table["cell"] not in CELLS:
        raise _fail(where, f"model {name}: cell must be one of {', '.join(CELLS)}, got {table['cell']!r}")
    return ModelSpec(name, table["cell"], _int(where, size, table[size], 1), _int(where, depth, table.get(depth, 1), 1))


def config_from_dict(doc: dict, where: str, base: str | None = None) -> SweepConfig:
    """A validated :class:`SweepConfig` from a parsed TOML document; relative ``data`` paths are
    taken from folder ``base`` (None: left as they are)."""
    sweep = doc.get("sweep")
    if not isinstance(sweep, dict):
        raise _fail(where, "no [sweep] table")
    extra = sorted(set(doc) - {"sweep", "model"})
    if extra:
        raise _fail(where, f"unknown table [{extra[0]}] (a config has [sweep] and [[model]])")
    values = {k.replace("-", "_"): v for k, v in sweep.items()}
    known = {f.name for f in dataclasses.fields(SweepConfig)} - {"models"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise _fail(where, f"unknown [sweep] key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    for key in ("dataset", "methods", "sparsities"):
        if key not in values:
            raise _fail(where, f"[sweep] lacks {key!r}")
    if values["dataset"] not in DATASETS:
        raise _fail(where, f"unknown dataset {values['dataset']!r} (expected one of {', '.join(DATASETS)})")
    models = doc.get("model")
    if not isinstance(models, list) or not models:
        raise _fail(where, "no [[model]] tables (at least one model is needed)")
    specs = tuple(_model(where, m) for m in models)
    if len({m.name for m in specs}) != len(specs):
        raise _fail(where, "two [[model]] tables have the same name")
    out: dict = {"dataset": values["dataset"], "models": specs,
                 "methods": _list(where, "methods", values["methods"], _choice(where, "method", METHODS)),
                 "sparsities": _list(where, "sparsities", values["sparsities"], _sparsity(where))}
    if "seeds" in values:
        out["seeds"] = _list(where, "seeds", values["seeds"], lambda s: _seed(where, s))
    for key in ("name", "data", "data_label", "trainer", "device", "cluster"):
        if key in values:
            if not isinstance(values[key], str):
                raise _fail(where, f"{key} must be a string, got {values[key]!r}")
            out[key] = values[key]
    if "name" in out and not _NAME.match(out["name"]):
        raise _fail(where, f"name {out['name']!r} must be letters, digits, '-', '_' or '.'")
    for key in ("epochs", "finetune_epochs", "batch_size", "rounds"):
        if key in values:
            out[key] = _int(where, key, values[key], 1)
            if key.endswith("epochs") and out[key] > EPOCHS_MAX:
                raise _fail(where, f"{key} must be at most {EPOCHS_MAX:,}, got {out[key]}")
    for key in ("limit", "unfold_steps"):
        if key in values:
            out[key] = _int(where, key, values[key], 1)
    for key in ("lr", "finetune_lr", "clip"):
        if key in values:
            out[key] = _positive(where, key, values[key])
    if "scope" in values:
        if values["scope"] not in SCOPES:
            raise _fail(where, f"scope must be one of {', '.join(SCOPES)}, got {values['scope']!r}")
        out["scope"] = values["scope"]
    for key in ("per_gate", "cmvn"):
        if key in values:
            if not isinstance(values[key], bool):
                raise _fail(where, f"{key} must be true or false, got {values[key]!r}")
            out[key] = values[key]
    if "noise_snr" in values:
        out["noise_snr"] = _list(where, "noise_snr", values["noise_snr"], _snr(where), allow_empty=True)
    if "words" in values:
        out["words"] = _list(where, "words", values["words"], _word(where))
    if "figures" in values:
        from graphtools.plots import KINDS

        out["figures"] = _list(where, "figures", values["figures"], _choice(where, "figure kind", KINDS),
                               allow_empty=True)
    if out["dataset"] != "speech-commands":
        for key in ("noise_snr", "words", "cmvn"):
            if out.get(key):
                raise _fail(where, f"{key} applies only to speech-commands, not {out['dataset']}")
    if out.get("cluster") and base is not None and ":" not in out["cluster"]:  # a scheduler file
        out["cluster"] = os.path.normpath(os.path.join(base, os.path.expanduser(out["cluster"])))
    if out.get("data") and base is not None and not os.path.isabs(os.path.expanduser(out["data"])):
        out["data"] = os.path.normpath(os.path.join(base, out["data"]))
    elif out.get("data"):
        out["data"] = os.path.expanduser(out["data"])
    return check_trainer(SweepConfig(**out), where)


def load_config(path: str | os.PathLike) -> SweepConfig:
    """The sweep config in the TOML file ``path`` (relative ``data`` from the file's folder)."""
    path = os.fspath(path)
    return config_from_dict(read_toml(path), path, os.path.dirname(os.path.abspath(path)))


def preset_text(name: str) -> str:
    """The TOML text of preset ``name``."""
    if name not in PRESETS:
        raise GraphtoolsError(f"unknown preset {name!r} (expected one of {', '.join(PRESETS)})")
    return resources.files("graphtools.experiments").joinpath("presets", f"{name}.toml").read_text("utf-8")


def bundled_file(relative: str) -> str | None:
    """A file bundled with the graphtools source tree: from the current folder, else the checkout
    graphtools was installed from (editable install)."""
    here = os.path.abspath(relative)
    if os.path.exists(here):
        return here
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    there = os.path.join(root, relative)
    return there if os.path.exists(there) else None


def load_preset(name: str, data: str | None = None) -> SweepConfig:
    """Preset ``name``; ``data`` replaces its data path.  A preset's relative data path names a
    file bundled with graphtools (``quick``: data/mnist_subset.npz); the paper presets need
    ``data``."""
    config = config_from_dict(tomllib.loads(preset_text(name)), f"preset {name}")
    if data is not None:
        return dataclasses.replace(config, data=os.path.expanduser(data))
    if not config.data:
        raise GraphtoolsError(f"preset {name} needs the data: pass --data PATH ({config.dataset}; see docs/data.md)")
    found = bundled_file(config.data)
    if found is None:
        raise GraphtoolsError(f"preset {name}: the bundled {config.data} was not found (run from a graphtools "
                              "checkout, or pass --data PATH)")
    return dataclasses.replace(config, data=found)


def with_overrides(config: SweepConfig, **changes) -> SweepConfig:
    """``config`` with the given fields replaced (None values are ignored)."""
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})


__all__ = ["PRESETS", "TRAINERS", "LEGACY_MODEL_KEYS", "check_trainer", "ModelSpec", "model_settings", "SweepConfig", "config_from_dict", "load_config", "load_preset",
           "preset_text", "bundled_file", "with_overrides"]
