"""Google Speech Commands as MFCC sequences: ``speech-commands``.

Layout of ``path`` (as in speech_commands_v0.01 / v0.02, or as written by
``graphtools data synth-speech``):

* one folder per word (``yes/``, ``no/``, ...) with 16 kHz mono 16-bit PCM WAV
  clips; the classes are these folders, sorted (folders starting with ``_`` or
  ``.`` are not classes);
* ``validation_list.txt`` and ``testing_list.txt``: one clip per line, relative
  to the root with ``/`` (``yes/0a7c2a8d_nohash_0.wav``); the train split is
  every clip in neither list;
* ``_background_noise_/``: long noise recordings (WAV, same format), used only
  for ``noise_snr``.

Each clip is truncated or zero-padded at the end to 1 s (16000 samples) and
turned into MFCCs by :func:`graphtools.data.mfcc.mfcc` (98 frames x 13).
With ``noise_snr=DB``, a random 1 s segment of a random background file is
added at that SNR (:func:`graphtools.data.noise.mix_at_snr`) before the MFCCs;
the choice for the example at position ``i`` of the split comes from
``numpy.random.default_rng([noise_seed, i])``, so it does not depend on ``limit``.

Order of examples: the clips of each class sorted by path, then taken round
robin over the classes (first clip of each class, then the second, ...), so that
``limit=N`` gives a class-balanced prefix.  Nothing is cached on disk.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np

from graphtools.data.dataset import Dataset, Split, check_split
from graphtools.data.mfcc import cmvn, mfcc
from graphtools.data.noise import mix_at_snr, random_segment
from graphtools.data.wav import CLIP, fix_length, read_wav
from graphtools.errors import GraphtoolsError

LISTS = {"validation": "validation_list.txt", "test": "testing_list.txt"}
NOISE_DIR = "_background_noise_"
#: Written by ``graphtools data synth-speech``; its presence marks a synthetic stand-in.
SYNTHETIC_MARKER = "synthetic.json"
BATCH = 128  # clips per MFCC call: bounds the memory of the spectra (~50 MB)


def word_folders(root: str) -> list[str]:
    """The class folders of a Speech Commands root, sorted."""
    try:
        entries = os.listdir(root)
    except FileNotFoundError:
        raise GraphtoolsError(f"{root}: no such directory") from None
    except NotADirectoryError:
        raise GraphtoolsError(f"{root}: is a file; expected a Speech Commands directory") from None
    except OSError as exc:
        raise GraphtoolsError(f"{root}: cannot list ({exc.strerror or exc})") from None
    return sorted(e for e in entries if not e.startswith(("_", ".")) and os.path.isdir(os.path.join(root, e)))


def _read_list(root: str, filename: str) -> set[str]:
    path = os.path.join(root, filename)
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise GraphtoolsError(f"{root}: no {filename} (Speech Commands layout needs validation_list.txt "
                              "and testing_list.txt)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphtoolsError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    entries = set()
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry:
            continue
        parts = entry.split("/")
        if len(parts) != 2 or not all(parts) or ".." in parts or not entry.endswith(".wav"):
            raise GraphtoolsError(f"{path}: line {number}: expected WORD/FILE.wav, got {entry!r}")
        entries.add(entry)
    return entries


def split_files(root: str, classes: list[str], split: str) -> list[str]:
    """Relative paths of the clips of ``classes`` in ``split``, in the documented round-robin order."""
    validation, testing = _read_list(root, LISTS["validation"]), _read_list(root, LISTS["test"])
    both = validation & testing
    if both:
        raise GraphtoolsError(f"{root}: {sorted(both)[0]} is in both validation_list.txt and testing_list.txt")
    chosen = set(classes)
    for listed, filename in ((validation, LISTS["validation"]), (testing, LISTS["test"])):
        for entry in sorted(listed):
            if entry.split("/")[0] in chosen and not os.path.isfile(os.path.join(root, entry)):
                raise GraphtoolsError(f"{os.path.join(root, filename)}: lists {entry}, which does not exist")
    per_class = []
    for word in classes:
        folder = os.path.join(root, word)
        clips = sorted(f"{word}/{f}" for f in os.listdir(folder)
                       if f.lower().endswith(".wav") and os.path.isfile(os.path.join(folder, f)))
        if split == "train":
            clips = [c for c in clips if c not in validation and c not in testing]
        else:
            wanted = validation if split == "validation" else testing
            clips = [c for c in clips if c in wanted]
        per_class.append(clips)
    ordered = []
    for rank in range(max((len(c) for c in per_class), default=0)):
        ordered.extend(c[rank] for c in per_class if rank < len(c))
    return ordered


def background_noise(root: str) -> list[tuple[str, np.ndarray]]:
    """(path, samples) of every WAV in ``_background_noise_``, sorted by name."""
    folder = os.path.join(root, NOISE_DIR)
    if not os.path.isdir(folder):
        raise GraphtoolsError(f"{root}: noise_snr needs a {NOISE_DIR} folder of noise WAVs, and there is none")
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(".wav"))
    noises = [(p, read_wav(p)) for p in paths]
    noises = [(p, s) for p, s in noises if len(s)]
    if not noises:
        raise GraphtoolsError(f"{folder}: no non-empty WAV files to use as background noise")
    return noises


def _choose_classes(root: str, words) -> list[str]:
    available = word_folders(root)
    if not available:
        raise GraphtoolsError(f"{root}: no word folders; not a Speech Commands directory")
    if words is None:
        return available
    if isinstance(words, str):
        words = [w for w in words.split(",") if w.strip()]
    words = [w.strip() for w in words]
    if not words:
        raise GraphtoolsError("words: the list of words is empty")
    missing = [w for w in words if w not in available]
    if missing:
        raise GraphtoolsError(f"{root}: no folder for word {missing[0]!r} (available: {', '.join(available)})")
    return sorted(set(words))


def load_speech_commands(name: Literal["speech-commands"], path, *, split: Split = "train",
                         limit: int | None = None, noise_snr: float | None = None, noise_seed: int = 0, words=None,
                         normalize: bool = False) -> Dataset:
    """Speech Commands as MFCC sequences: x (N, 98, 13) float32, y (N,) int64; see the module docstring.

    Parameters
    ----------
    name : {"speech-commands"}
        The only form.
    path : str or os.PathLike
        A Speech Commands root: one folder of 16 kHz mono WAVs per word, plus
        ``validation_list.txt`` and ``testing_list.txt``.
    split : {"train", "validation", "test"}
        Which clips (the lists name validation and test; the rest are train).
    limit : int, optional
        Keep the first ``limit`` clips.
    noise_snr : float, optional
        Mix in ``_background_noise_`` at this signal-to-noise ratio (dB).
    noise_seed : int
        Chooses the noise segments.
    words : list of str or str, optional
        Restrict the classes to these folders (a list or a comma-separated string);
        classes are always sorted.
    normalize : bool
        Per-clip :func:`graphtools.data.mfcc.cmvn` (after any noise is mixed in).

    Returns
    -------
    Dataset

    Raises
    ------
    GraphtoolsError
        For a missing root, list or word, an unreadable WAV, or noise asked without recordings.

    Examples
    --------
    >>> import os, tempfile
    >>> from scipy.io import wavfile
    >>> root = tempfile.mkdtemp()
    >>> for word in ("no", "yes"):
    ...     os.mkdir(os.path.join(root, word))
    ...     for k in range(2):
    ...         tone = np.sin(np.arange(16000) * (0.05 + 0.01 * k)) * 8000
    ...         wavfile.write(os.path.join(root, word, f"s{k}_nohash_0.wav"), 16000, tone.astype(np.int16))
    >>> with open(os.path.join(root, "validation_list.txt"), "w") as handle:
    ...     _ = handle.write("yes/s1_nohash_0.wav\\n")
    >>> with open(os.path.join(root, "testing_list.txt"), "w") as handle:
    ...     _ = handle.write("no/s1_nohash_0.wav\\n")
    >>> train = load_speech_commands("speech-commands", root, split="train")
    >>> train.x.shape, train.classes, train.y.tolist()
    ((2, 98, 13), ['no', 'yes'], [0, 1])
    """
    root = os.fspath(path)
    check_split(split, "speech-commands", has_validation=True)
    classes = _choose_classes(root, words)
    files = split_files(root, classes, split)
    if limit is not None:
        files = files[:limit]
    noises = background_noise(root) if noise_snr is not None else None
    index = {w: i for i, w in enumerate(classes)}
    features = []
    for start in range(0, len(files), BATCH):
        batch = []
        for i, rel in enumerate(files[start:start + BATCH], start):
            clip = fix_length(read_wav(os.path.join(root, rel)))
            if noises is not None:
                rng = np.random.default_rng([noise_seed, i])
                _, noise = noises[int(rng.integers(len(noises)))]
                clip = mix_at_snr(clip, random_segment(noise, CLIP, rng), noise_snr)
            batch.append(clip)
        features.append(mfcc(np.stack(batch)))
    x = np.concatenate(features) if features else np.zeros((0, 98, 13), np.float32)
    if normalize:
        x = cmvn(x)
    y = np.array([index[rel.split("/")[0]] for rel in files], dtype=np.int64)
    synthetic = os.path.isfile(os.path.join(root, SYNTHETIC_MARKER))
    note = ("synthetic stand-in: espeak-ng speech (graphtools data synth-speech)" if synthetic
            else "Speech Commands") + "; 1 s clips, 13 MFCCs" + (" (per-clip CMVN)" if normalize else "")
    if noise_snr is not None:
        note += f"; background noise at {noise_snr:g} dB SNR (seed {noise_seed})"
    return Dataset(x=x, y=y, classes=classes, name=name, note=note, split=split)
