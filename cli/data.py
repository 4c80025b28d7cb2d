"""``graphtools data``: dataset utilities (``synth-speech``: a Speech Commands stand-in spoken by espeak-ng)."""

from __future__ import annotations

import click

from graphtools.cli._options import SEED
from graphtools.data.synth import DEFAULT_WORDS, synthesize_speech_commands


@click.group()
def data():
    """Dataset utilities (datasets themselves are read by graphtools.data.load_dataset; see docs/data.md)."""


@data.command("synth-speech", short_help="Write a Speech Commands stand-in spoken by espeak-ng.")
@click.argument("out", type=click.Path(file_okay=False, path_type=str))
@click.option("--words", default=",".join(DEFAULT_WORDS), show_default=True, metavar="W1,W2,...",
              help="Comma-separated words, one class folder each.")
@click.option("--per-word", type=click.IntRange(min=1), default=50, show_default=True, metavar="N",
              help="Clips per word.")
@click.option("--seed", type=SEED, default=0, show_default=True, metavar="S",
              help="Seed for voices, pitch, speed, amplitude, placement, noise and the split.")
def synth_speech(out, words, per_word, seed):
    """Write a Speech-Commands-layout dataset into OUT (new or empty) by calling espeak-ng:
    1 s 16 kHz WAVs per word, validation_list.txt / testing_list.txt (10% / 10%) and
    _background_noise_/ (white, pink, brown noise)."""
    result = synthesize_speech_commands(out, words=words, per_word=per_word, seed=seed)
    click.echo(
        f"wrote {result.clips} clips of {len(result.words)} words to {result.out_dir} "
        f"({result.train} train, {result.validation} validation, {result.test} test) "
        f"and {len(result.noise_files)} background noise files in {result.seconds:.1f} s"
    )
