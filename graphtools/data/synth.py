"""A synthetic stand-in for Google Speech Commands, spoken by ``espeak-ng``.

:func:`synthesize_speech_commands` writes, under an empty (or new) folder::

    OUT/<word>/<8 hex>_nohash_<k>.wav     per_word clips of each word
    OUT/_background_noise_/{white,pink,brown}_noise.wav   10 s of synthetic noise each
    OUT/validation_list.txt, OUT/testing_list.txt
    OUT/synthetic.json                    the parameters (marks the folder as synthetic)

Every clip is 1 s of 16 kHz mono 16-bit PCM.  Clip ``k`` of a word is made by
running ``espeak-ng -v VOICE+VARIANT -p PITCH -s SPEED -a AMPLITUDE -w tmp.wav WORD``
with, drawn from ``numpy.random.default_rng(seed)``: a voice among
:data:`VOICES`, a variant among ``m1..m7, f1..f4``, pitch 20..80, speed
130..190 words per minute and amplitude 30..120.  The output (22050 Hz) is
resampled to 16 kHz with ``scipy.signal.resample_poly``, trimmed of leading and
trailing silence (samples under 1% of the peak, keeping 10 ms either side),
placed at a random offset in a 1 s window of zeros (truncated at the end if
longer), and given faint white noise 30..50 dB below its RMS so that no frame
is digital silence.

The split is by file and seeded: 10% of all clips (rounded, at least one when
there are 3 or more) go to ``validation_list.txt`` and 10% to
``testing_list.txt``, taken round robin over the words in shuffled order so
that every word is represented as evenly as possible.  The same arguments and
the same espeak-ng build give the same files.

Every file is written to a temporary name in its folder and renamed into place,
and the lists and ``synthetic.json`` are written last, so an interrupted run
leaves no half-written WAV and no lists claiming clips that do not exist.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.io import wavfile

from graphtools.atomic import atomic_open, write_atomic
from graphtools.data.noise import brown_noise, pink_noise, white_noise
from graphtools.data.speech import LISTS, NOISE_DIR, SYNTHETIC_MARKER
from graphtools.errors import GraphtoolsError
from graphtools.validate import check_scalar, check_seed

RATE = 16000
DEFAULT_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029")
VARIANTS = tuple(f"m{i}" for i in range(1, 8)) + tuple(f"f{i}" for i in range(1, 5))
PITCH = (20, 80)
SPEED = (130, 190)
AMPLITUDE = (30, 120)
DITHER_DB = (30.0, 50.0)
NOISE_SECONDS = 10.0
NOISE_KINDS = {"white_noise": white_noise, "pink_noise": pink_noise, "brown_noise": brown_noise}
_WORD = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TIMEOUT = 60


@dataclass
class SynthResult:
    """What :func:`synthesize_speech_commands` wrote."""

    out_dir: str
    words: list[str]
    per_word: int
    seed: int
    clips: int
    train: int
    validation: int
    test: int
    noise_files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    espeak_version: str = ""


@dataclass(frozen=True)
class _Utterance:
    word: str
    index: int
    speaker: str
    voice: str
    pitch: int
    speed: int
    amplitude: int
    offset: float
    dither_db: float

    @property
    def relpath(self) -> str:
        return f"{self.word}/{self.speaker}_nohash_{self.index}.wav"


def _check_words(words) -> list[str]:
    if isinstance(words, str):
        words = words.split(",")
    words = [w.strip() for w in words]
    words = [w for w in words if w]
    if not words:
        raise GraphtoolsError("words: the list of words is empty")
    for word in words:
        if not _WORD.match(word):
            raise GraphtoolsError(
                f"words: {word!r} is not a usable word (lower-case letters, digits, '_' or '-', "
                "starting with a letter or digit)"
            )
    if len(set(words)) != len(words):
        duplicate = next(w for w in words if words.count(w) > 1)
        raise GraphtoolsError(f"words: {duplicate!r} is given twice")
    return words


def _espeak() -> str:
    program = shutil.which("espeak-ng")
    if program is None:
        raise GraphtoolsError("espeak-ng is not installed (apt-get install espeak-ng)")
    return program


def _espeak_version(program: str) -> str:
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphtoolsError(f"cannot run {program} ({exc})") from None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""


def _plan(words: list[str], per_word: int, seed: int) -> list[_Utterance]:
    """Every clip's parameters, drawn before any audio is made (so they depend only on the arguments)."""
    rng = np.random.default_rng(seed)
    plan = []
    for word in words:
        for k in range(per_word):
            voice = f"{VOICES[rng.integers(len(VOICES))]}+{VARIANTS[rng.integers(len(VARIANTS))]}"
            plan.append(_Utterance(
                word=word, index=k, speaker=f"{int(rng.integers(0, 2**32)):08x}", voice=voice,
                pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)), speed=int(rng.integers(SPEED[0], SPEED[1] + 1)),
                amplitude=int(rng.integers(AMPLITUDE[0], AMPLITUDE[1] + 1)), offset=float(rng.random()),
                dither_db=float(rng.uniform(*DITHER_DB)),
            ))
    return plan


def _speak(program: str, u: _Utterance, scratch: str) -> tuple[int, np.ndarray]:
    out = os.path.join(scratch, "espeak.wav")
    command = [program, "-v", u.voice, "-p", str(u.pitch), "-s", str(u.speed), "-a", str(u.amplitude),
               "-w", out, u.word]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphtoolsError(f"espeak-ng failed for {u.word!r} ({exc})") from None
    if run.returncode != 0 or not os.path.isfile(out):
        detail = (run.stderr or run.stdout).strip().splitlines()
        raise GraphtoolsError(
            f"espeak-ng failed for {u.word!r} with voice {u.voice} (exit {run.returncode}"
            + (f": {detail[0]}" if detail else "") + ")"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wavfile.WavFileWarning)
        rate, samples = wavfile.read(out)
    os.unlink(out)
    return rate, samples


def to_clip(rate: int, samples: np.ndarray, offset: float, dither_db: float,
            rng: np.random.Generator) -> np.ndarray:
    """espeak-ng output -> 1 s of 16 kHz int16: resample, trim silence, place at ``offset``, dither."""
    x = samples.astype(np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if samples.dtype.kind in "iu":
        x /= float(np.iinfo(samples.dtype).max) + 1.0
    if rate != RATE:
        g = math.gcd(int(rate), RATE)
        from scipy.signal import resample_poly  # imported when used: scipy.signal costs ~0.5 s

        x = resample_poly(x, RATE // g, int(rate) // g)
    peak = np.max(np.abs(x)) if len(x) else 0.0
    if peak == 0.0:
        raise GraphtoolsError("espeak-ng produced silence")
    loud = np.flatnonzero(np.abs(x) >= 0.01 * peak)
    margin = RATE // 100
    x = x[max(0, loud[0] - margin): loud[-1] + 1 + margin][:RATE]
    clip = np.zeros(RATE)
    start = int(offset * (RATE - len(x)))
    clip[start:start + len(x)] = x
    rms = np.sqrt(np.mean(x ** 2))
    clip += rng.standard_normal(RATE) * rms * 10.0 ** (-dither_db / 20.0)
    return np.clip(np.round(clip * 32768.0), -32768, 32767).astype(np.int16)


def _write_wav(path: str, samples: np.ndarray) -> None:
    with atomic_open(path, "wb") as handle:
        wavfile.write(handle, RATE, samples)


def _split(plan: list[_Utterance], seed: int) -> tuple[list[str], list[str]]:
    """(validation, testing) relative paths; see the module docstring."""
    rng = np.random.default_rng([seed, 1])
    total = len(plan)
    n = round(0.1 * total)
    if n == 0 and total >= 3:
        n = 1
    by_word: dict[str, list[str]] = {}
    for u in plan:
        by_word.setdefault(u.word, []).append(u.relpath)
    words = list(by_word)
    columns = []
    for w in (words[i] for i in rng.permutation(len(words))):
        files = by_word[w]
        columns.append([files[i] for i in rng.permutation(len(files))])
    ordered = [col[r] for r in range(max(map(len, columns))) for col in columns if r < len(col)]
    return sorted(ordered[:n]), sorted(ordered[n:2 * n])


def _prepare_out(out_dir: str) -> None:
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise GraphtoolsError(f"{out_dir}: exists and is not a directory")
        if os.listdir(out_dir):
            raise GraphtoolsError(f"{out_dir}: exists and is not empty; choose a new folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise GraphtoolsError(f"cannot create {out_dir}: {exc.strerror or exc}") from None


def synthesize_speech_commands(out_dir: str | os.PathLike, words=DEFAULT_WORDS, per_word: int = 50,
                               seed: int = 0, noise_seconds: float = NOISE_SECONDS) -> SynthResult:
    """Write a Speech-Commands-layout dataset spoken by espeak-ng into ``out_dir`` (new or empty).

    ``words``: a list or a comma-separated string (default the 10 core commands).
    See the module docstring for the recipe.  Raises GraphtoolsError when
    espeak-ng is missing or fails, or ``out_dir`` is not empty.
    """
    began = time.perf_counter()
    out_dir = os.fspath(out_dir)
    words = _check_words(words)
    per_word = check_scalar(per_word, "per_word", int, min_val=1, expected="a positive integer")
    seed = check_seed(seed)
    if not (isinstance(noise_seconds, (int, float)) and 1.0 <= noise_seconds <= 600.0):
        raise GraphtoolsError(f"noise_seconds must be between 1 and 600, got {noise_seconds!r}")
    per_word, seed = int(per_word), int(seed)
    program = _espeak()
    version = _espeak_version(program)
    _prepare_out(out_dir)

    plan = _plan(words, per_word, seed)
    for word in words:
        os.makedirs(os.path.join(out_dir, word), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="graphtools-espeak-") as scratch:
        for u in plan:
            rate, samples = _speak(program, u, scratch)
            rng = np.random.default_rng([seed, 2, words.index(u.word), u.index])
            clip = to_clip(rate, samples, u.offset, u.dither_db, rng)
            _write_wav(os.path.join(out_dir, *u.relpath.split("/")), clip)

    noise_folder = os.path.join(out_dir, NOISE_DIR)
    os.makedirs(noise_folder, exist_ok=True)
    noise_files = []
    n = int(round(noise_seconds * RATE))
    for k, (kind, make) in enumerate(NOISE_KINDS.items()):
        noise = make(n, np.random.default_rng([seed, 3, k])) * 0.1  # RMS 0.1 (-20 dBFS)
        _write_wav(os.path.join(noise_folder, kind + ".wav"),
                   np.clip(np.round(noise * 32768.0), -32768, 32767).astype(np.int16))
        noise_files.append(f"{NOISE_DIR}/{kind}.wav")

    validation, testing = _split(plan, seed)
    write_atomic(os.path.join(out_dir, LISTS["validation"]), "".join(p + "\n" for p in validation))
    write_atomic(os.path.join(out_dir, LISTS["test"]), "".join(p + "\n" for p in testing))
    result = SynthResult(out_dir=out_dir, words=words, per_word=per_word, seed=seed, clips=len(plan),
                         train=len(plan) - len(validation) - len(testing), validation=len(validation),
                         test=len(testing), noise_files=noise_files, espeak_version=version)
    result.seconds = time.perf_counter() - began
    meta = {"generator": "graphtools data synth-speech", **asdict(result),
            "voices": list(VOICES), "variants": list(VARIANTS), "pitch": list(PITCH), "speed": list(SPEED),
            "amplitude": list(AMPLITUDE), "sample_rate": RATE}
    meta.pop("out_dir")
    meta.pop("seconds")
    write_atomic(os.path.join(out_dir, SYNTHETIC_MARKER), json.dumps(meta, indent=2) + "\n")
    return result
