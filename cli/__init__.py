"""The ``graphtools`` command line: one click command per verb, each thin over one library call."""

from __future__ import annotations

import importlib
import os
import sys

# graphtools runs BLAS on one thread unless asked (graphtools.threads).  Said here, before numpy
# is imported, OpenBLAS starts that way and never creates its thread pool; --threads N and
# GRAPHTOOLS_THREADS raise it later.
if "numpy" not in sys.modules and not any(
        os.environ.get(name) for name in ("GRAPHTOOLS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")):
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

import click  # noqa: E402

from graphtools import __version__, budget
from graphtools.errors import GraphtoolsError


class _Group(click.Group):
    """Loads each command on first use; turns library errors into one ``error: ...`` line and exit
    status 1, never a traceback."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, function = COMMANDS[name].split(":")
        return getattr(importlib.import_module(f".{module}", __package__), function)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GraphtoolsError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except BrokenPipeError:  # e.g. `graphtools unfold ... | head`: stop quietly, as cat does
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(141)
        except MemoryError:
            click.echo("error: out of memory", err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # a bug of ours: still one line, the traceback on request
            if os.environ.get("GRAPHTOOLS_DEBUG"):
                raise
            click.echo(
                f"error: internal error ({type(exc).__name__}: {exc}); "
                "set GRAPHTOOLS_DEBUG=1 for the traceback and please report it",
                err=True,
            )
            ctx.exit(1)


def _max_memory(ctx, param, value):
    if value is None:
        return None
    try:
        nbytes = budget.parse_size(value)
    except GraphtoolsError as exc:
        raise click.BadParameter(str(exc)) from None
    budget.set_max_memory(nbytes)
    os.environ[budget.ENV_VAR] = str(nbytes)  # sweep workers in other processes keep the limit
    return nbytes


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graphtools")
@click.option("--max-memory", metavar="SIZE", callback=_max_memory, expose_value=False, is_eager=True,
              help="Refuse work whose memory estimate exceeds SIZE (e.g. 4G, 512M, 2GiB) "
                   "[default: $GRAPHTOOLS_MAX_MEMORY, else half of this machine's RAM].")
@click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N",
              help="Threads to use (BLAS threads for large work; workers share them). "
                   "Default: $GRAPHTOOLS_THREADS, else one BLAS thread and all cores for workers.")
def main(threads):
    """Expander analysis of recurrent neural network layers."""
    if threads is not None or os.environ.get("GRAPHTOOLS_THREADS"):
        from graphtools.threads import set_threads

        set_threads(threads)


#: command name -> "module:function" in this package, imported only when the command runs
#: (so `graphtools analyze` does not pay for scipy.signal, the trainer, ...).
COMMANDS = {
    "analyze": "analyze:analyze",
    "unfold": "unfold:unfold",
    "check": "check:check",
    "prune": "prune:prune",
    "train": "train:train",
    "evaluate": "train:evaluate",
    "data": "data:data",
    "sweep": "sweep:sweep",
    "plot": "plot:plot",
    "report": "report:report",
    "claim": "claim:claim",
}

if __name__ == "__main__":
    sys.exit(main())
