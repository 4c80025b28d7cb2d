"""``graphtools train`` and ``graphtools evaluate``: the numpy trainer from the command line."""

from __future__ import annotations

import json
import sys
import time

import click
from click.core import ParameterSource

from graphtools.data.load import DATASETS
from graphtools.model import CELLS
from graphtools.nn.training import format_epoch
from graphtools.nn.run import TrainConfig, evaluate_checkpoint, train_from_config
from graphtools.cli._format import duration
from graphtools.cli._options import EPOCHS, FINITE, OUTPUT, SEED, finite_range


class _Bar:
    """One status line rewritten in place on a terminal; one line per epoch otherwise (logs)."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p):
        line = (f"epoch {p.epoch}/{p.epochs}  batch {p.batch}/{p.batches}  loss {p.loss:.4f}  "
                f"acc {100 * p.accuracy:.2f}%  {p.samples_per_second:,.0f} samples/s  ETA {duration(p.eta_seconds)}")
        end = p.batch == p.batches
        if self.tty and (end or time.monotonic() - self.last > 0.2):
            click.echo("\r" + line + ("\n" if end else ""), err=True, nl=False)
            self.last = time.monotonic()
        elif not self.tty and end:
            click.echo(line, err=True)


@click.command()
@click.option("--cell", type=click.Choice(CELLS), default="lstm", show_default=True,
              help="Recurrent cell (with --init or --mask: taken from that checkpoint).")
@click.option("--hidden", metavar="H", type=click.IntRange(min=1), default=128, show_default=True,
              help="Hidden units per layer (with --init or --mask: taken from that checkpoint).")
@click.option("--layers", metavar="L", type=click.IntRange(min=1), default=1, show_default=True,
              help="Stacked recurrent layers (with --init or --mask: taken from that checkpoint).")
@click.option("--dataset", type=click.Choice(DATASETS), default="seq-mnist", show_default=True,
              help="Task: how --data is read and fed in (docs/data.md).")
@click.option("--data", type=click.Path(path_type=str), required=True, help="Data file or folder.")
@click.option("--epochs", metavar="N", type=EPOCHS, default=10, show_default=True, help="Passes over the training split.")
@click.option("--batch-size", metavar="B", type=click.IntRange(min=1), default=128, show_default=True,
              help="Examples per gradient step.")
@click.option("--lr", metavar="LR", type=finite_range(0, min_open=True), default=1e-3, show_default=True,
              help="Learning rate (> 0).")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True,
              help="Adam, or plain stochastic gradient descent.")
@click.option("--clip", metavar="C", type=finite_range(0, min_open=True), default=1.0, show_default=True,
              help="Clip the global gradient norm to this.")
@click.option("--seed", metavar="S", type=SEED, default=0, show_default=True,
              help="Seed of the initial weights and of the batch order.")
@click.option("--limit", metavar="N", type=click.IntRange(min=1), default=None, help="Use the first N examples of each split.")
@click.option("--mask", metavar="CKPT", type=click.Path(path_type=str), default=None,
              help="Checkpoint whose <weight>_mask arrays fix the pruned weights at zero.")
@click.option("--init", metavar="CKPT", type=click.Path(path_type=str), default=None,
              help="Start from this checkpoint's weights (and masks) instead of a fresh model.")
@click.option("--workers", metavar="N", type=click.IntRange(min=1), default=None,
              help="Workers per batch (this process and worker processes), one BLAS thread each [default: 2 when the thread budget (graphtools --threads) allows, for hidden >= 128 and batch >= 64].")
@click.option("--output", "-o", type=OUTPUT, metavar="CKPT", required=True,
              help="Checkpoint to write (after every epoch, atomically).")
def train(cell, hidden, layers, dataset, data, epochs, batch_size, lr, optimizer, clip, seed, limit, mask, init,
          workers, output):
    """Train a sequence classifier in numpy; print each epoch's test accuracy as it ends.

    With --init (or --mask) the architecture comes from that checkpoint: --cell, --hidden and
    --layers may be left out, and are refused if they contradict it."""
    ctx = click.get_current_context()
    cell, hidden, layers = (value if ctx.get_parameter_source(name) != ParameterSource.DEFAULT else None
                            for name, value in (("cell", cell), ("hidden", hidden), ("layers", layers)))
    config = TrainConfig(cell=cell, hidden_size=hidden, num_layers=layers, dataset=dataset, data=data, epochs=epochs,
                         batch_size=batch_size, lr=lr, optimizer=optimizer, clip=clip, seed=seed, limit=limit,
                         mask=mask, init=init, workers=workers)
    try:
        result = train_from_config(config, output, progress=_Bar(),
                                   on_epoch=lambda record: click.echo(format_epoch(record)))
    except KeyboardInterrupt:
        click.echo("\ninterrupted: the checkpoint of the last complete epoch (if any) is intact at " + output,
                   err=True)
        raise SystemExit(130) from None
    per_epoch = sum(r["seconds"] for r in result.epochs) / len(result.epochs)
    click.echo(f"test accuracy {100 * result.test.accuracy:.2f}% on {result.test.samples} examples; "
               f"{per_epoch:.1f} s per epoch; checkpoint {output}")


@click.command()
@click.argument("checkpoint", metavar="CKPT", type=click.Path(path_type=str))
@click.option("--dataset", type=click.Choice(DATASETS), default="seq-mnist", show_default=True,
              help="Task: how --data is read and fed in (docs/data.md).")
@click.option("--data", type=click.Path(path_type=str), required=True, help="Data file or folder.")
@click.option("--split", type=click.Choice(["test", "train", "validation"]), default="test", show_default=True,
              help="Which split of the dataset to score.")
@click.option("--limit", metavar="N", type=click.IntRange(min=1), default=None, help="Use the first N examples of the split.")
@click.option("--noise-snr", type=FINITE, default=None, metavar="DB",
              help="Mix background noise at this SNR (speech-commands).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="One line for people, or a JSON object {accuracy, loss, samples}.")
def evaluate(checkpoint, dataset, data, split, limit, noise_snr, fmt):
    """Accuracy and loss of CKPT on a dataset split."""
    result = evaluate_checkpoint(checkpoint, dataset, data, split, limit, noise_snr)
    if fmt == "json":
        click.echo(json.dumps({"accuracy": result.accuracy, "loss": result.loss, "samples": result.samples}))
    else:
        click.echo(f"accuracy {100 * result.accuracy:.2f}%  loss {result.loss:.4f}  samples {result.samples}")
