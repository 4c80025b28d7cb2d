"""The README as a first user meets it, on a fresh copy of the repository.

A copy of the repository's files (tracked, plus untracked ones git does not ignore: what a commit
of this working tree would hold) goes to ``TMP/graphtools``, the folder name a ``git clone`` gives,
and is installed editable into a throwaway virtual environment ``TMP/venv`` by the README's own
``pip install -e`` commands.  Then:

- every ``bash`` block of README.md runs in order in that copy, with the venv's ``graphtools``
  script, and must exit 0 with no traceback or ``error:`` line;
- every transcript (a plain block whose first line is ``$ command``) runs, command by command,
  and what it prints must be what the README shows (a ``...`` line stands for any lines);
- from TMP, the folder holding the clone, ``from graphtools.data import load_dataset`` imports
  the clone's package, not the clone folder as a namespace package.

To stay offline and fast, two README commands are run with documented substitutions
(``SUBSTITUTIONS``): ``pip install`` gets ``--no-deps --no-build-isolation --no-index`` (the
dependencies and setuptools come from the environment running this test, which the throwaway
venv sees through a ``.pth`` file), and ``python -m pytest`` (the suite this test belongs to)
runs one small test file of the copy.  Commands the README gives in prose (bigger sweeps, the full
MNIST) are not run.  Usage synopses (plain blocks starting with ``graphtools``) are not commands:
tests/test_newcomer.py checks their metavars against ``--help``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBSTITUTIONS = [
    (re.compile(r"\bpip install\b"), "pip install --no-deps --no-build-isolation --no-index --quiet"),
    (re.compile(r"\bpython -m pytest$", flags=re.M), "python -m pytest -q -p no:cacheprovider tests/test_graphs.py"),
]


def readme_blocks(text):
    """(kind, body) of every fenced block in order: kind 'bash', 'transcript' or None (others)."""
    blocks = []
    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M):
        if lang == "bash":
            blocks.append(("bash", body))
        elif lang == "" and body.startswith("$ "):
            blocks.append(("transcript", body))
        else:
            blocks.append((None, body))
    return blocks


def transcript_steps(body):
    """[(command, shown output lines)] of a transcript block."""
    steps = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line.rstrip())
    return steps


def matches(shown, printed):
    """True when the printed lines are the shown ones, a shown '...' standing for any lines."""
    pattern = "".join(r"(?:.*\n)*?" if line == "..." else re.escape(line) + r"\n" for line in shown)
    return re.fullmatch(pattern, "".join(line + "\n" for line in printed)) is not None


def fresh_copy(destination):
    """Copy the files a commit of this working tree would hold (git's view) to ``destination``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = os.path.join(ROOT, name)
        if os.path.isfile(source):  # a file deleted in the working tree is not copied
            os.makedirs(os.path.join(destination, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(source, os.path.join(destination, name))


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """(parent folder, clone folder, environment whose PATH starts with the throwaway venv)."""
    parent = tmp_path_factory.mktemp("fresh")
    root = parent / "graphtools"
    fresh_copy(root)
    venv = parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = next(p for p in (bindir / "python", bindir / "python.exe") if p.exists())
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    with open(os.path.join(site, "zz-test-environment.pth"), "w", encoding="utf-8") as handle:
        handle.write("".join(path + "\n" for path in sorted(outer)))
    pip = bindir / "pip"  # this environment's pip, installing into the venv
    pip.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pip --python "{python}" "$@"\n')
    pip.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "PIP_"))}
    env.update(PATH=str(bindir) + os.pathsep + os.environ.get("PATH", ""), VIRTUAL_ENV=str(venv),
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", MPLBACKEND="Agg")
    return parent, root, env


def bash(script, cwd, env):
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_every_readme_shell_block_runs_as_written_in_order(clone):
    parent, root, env = clone
    with open(root / "README.md", encoding="utf-8") as handle:
        blocks = readme_blocks(handle.read())
    ran = {"bash": 0, "transcript": 0}
    for kind, body in blocks:
        if kind == "bash":
            script = body
            for pattern, replacement in SUBSTITUTIONS:
                script = pattern.sub(replacement, script)
            done = bash("set -e\n" + script, root, env)
            assert done.returncode == 0, (body, done.stdout[-2000:], done.stderr[-2000:])
            assert "Traceback" not in done.stderr and "error:" not in done.stderr, (body, done.stderr)
        elif kind == "transcript":
            status = 0
            for command, shown in transcript_steps(body):
                if command == "echo $?":  # the status of the transcript's previous command
                    printed = [str(status)]
                else:
                    done = bash(command + " 2>&1", root, env)
                    status, printed = done.returncode, done.stdout.rstrip("\n").split("\n")
                    printed = [line.rstrip() for line in printed]
                while shown and shown[-1] == "":
                    shown = shown[:-1]
                assert matches(shown, printed), (command, "\n".join(printed))
        else:
            continue
        ran[kind] += 1
    assert ran["bash"] >= 5 and ran["transcript"] >= 4, ran
    # the commands ran the throwaway venv's script, which the README's pip install made
    script = bash("command -v graphtools", root, env).stdout.strip()
    assert os.path.dirname(script) == env["PATH"].split(os.pathsep)[0]
    assert os.path.dirname(os.path.dirname(script)) == env["VIRTUAL_ENV"]
    written = sorted(os.listdir(root / "runs"))
    assert {"lstm.npz", "lstm_guard.npz", "lstm_guard_ft.npz", "lstm_mag90.npz", "mine"} <= set(written), written


def test_the_package_imports_from_the_clones_parent_folder(clone):
    """Defect: run from the folder holding the clone (named graphtools), the clone folder was taken
    for a namespace package and its data/ for graphtools.data."""
    parent, root, env = clone
    site = bash("python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])'", root, env).stdout.strip()
    if not os.path.exists(os.path.join(site, "__editable__.graphtools.root.pth")):  # not run after the README test
        installed = bash("pip install --no-deps --no-build-isolation --no-index --quiet -e .", root, env)
        assert installed.returncode == 0, installed.stderr
    code = ("from graphtools.data import load_dataset\n"
            "import graphtools, graphtools.cli, graphtools.data\n"
            "print(graphtools.__file__); print(graphtools.cli.__file__); print(graphtools.data.__file__)")
    done = bash(f"python -c '{code}' && graphtools --version", parent, env)
    assert done.returncode == 0, done.stderr
    package, cli, data, version = done.stdout.splitlines()
    assert package == str(root / "graphtools" / "__init__.py")
    assert cli == str(root / "cli" / "__init__.py")
    assert data == str(root / "graphtools" / "data" / "__init__.py")
    assert version.startswith("graphtools, version ")


def test_the_sdist_carries_the_in_tree_build_backend(clone, tmp_path):
    """pyproject.toml names an in-tree backend (build_backend/): an sdist without it cannot be built."""
    parent, root, env = clone
    script = ("import sys; sys.path.insert(0, 'build_backend'); import graphtools_build; "
              f"print(graphtools_build.build_sdist({str(tmp_path)!r}))")
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with tarfile.open(tmp_path / done.stdout.split()[-1]) as sdist:
        names = {name.split("/", 1)[-1] for name in sdist.getnames()}
    assert {"pyproject.toml", "build_backend/graphtools_build.py", "cli/__init__.py"} <= names


def test_readme_examples_write_under_runs_and_never_to_the_same_file():
    """Every file or folder a README command writes (-o, --output, --out, --junit, --html) is under
    runs/, which git ignores, and no two examples write the same one."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        blocks = readme_blocks(handle.read())
    commands = [line for kind, body in blocks if kind == "bash" for line in body.splitlines()]
    commands += [command for kind, body in blocks if kind == "transcript" for command, _ in transcript_steps(body)]
    targets = [target for command in commands
               for target in re.findall(r"(?:^|\s)(?:-o|--output|--out|--junit|--html)\s+(\S+)", command)]
    assert len(targets) >= 12
    assert [t for t in targets if not t.startswith("runs/")] == []
    assert len(set(targets)) == len(targets), sorted(targets)
    assert subprocess.run(["git", "check-ignore", "-q", "runs/anything"], cwd=ROOT).returncode == 0


def _close(shown, actual):
    if isinstance(shown, dict):
        return isinstance(actual, dict) and shown.keys() == actual.keys() and all(
            _close(shown[k], actual[k]) for k in shown)
    if isinstance(shown, list):
        return isinstance(actual, list) and len(shown) == len(actual) and all(map(_close, shown, actual))
    if isinstance(shown, float) and not isinstance(actual, bool):
        return isinstance(actual, (int, float)) and abs(shown - actual) <= 1e-9 * max(1.0, abs(shown))
    return shown == actual


def test_readme_json_example_is_what_analyze_writes(monkeypatch):
    """The README's --format json example (its architecture, first layer and first skipped tensor,
    the rest elided with '...') is what analyze writes now, up to float rounding."""
    import json

    from click.testing import CliRunner

    from graphtools.cli import main

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        shown = next(body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", handle.read(), flags=re.S | re.M)
                     if lang == "json")
    # drop the elisions: a '...' element of a list, and the '...' after the first skipped tensor
    shown = re.sub(r",\s*\.\.\.\s*(?=\])", "", shown)
    shown = json.loads(shown)
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["analyze", shown["checkpoint"], "--format", "json"])
    assert result.exit_code == 0, result.output
    actual = json.loads(result.output)
    assert shown.keys() == actual.keys()
    for key in shown:
        if isinstance(shown[key], list):  # the README shows the first entries only
            assert shown[key] == [] or _close(shown[key], actual[key][:len(shown[key])]), key
            assert len(actual[key]) >= len(shown[key]), key
        else:
            assert _close(shown[key], actual[key]), key
