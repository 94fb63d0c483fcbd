"""Tiny real CLI runs of either engine, started, watched and killed from the outside
(helpers and fixtures of the lifecycle suite).

Every run is a ``segtrain train`` subprocess (TensorFlow and torch never enter the pytest
process together); its output goes to a file so a test can read the metric lines while
it runs and kill it at a chosen point.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from segtrain.runtime.metric_log import parse_metric_lines

DATA = [
    "dataset.synth.num_sequences=3",
    "dataset.synth.frames_per_sequence=4",
    "dataset.synth.height=64",
    "dataset.synth.width=96",
    "dataset.image_size=[64,96]",
    "trainer.batch_size=4",
    "logger=none",
]
ENGINE_ARGS = {
    "torch": [*DATA, "dataset.num_workers=0", "hardware.precision=32"],
    "keras": ["model=enet", *DATA, "dataset.num_workers=1"],
}
#: where each engine's resumable state lives (relative to the checkpoint dir)
RESUME_FILE = {"torch": "last.ckpt", "keras": "backup/latest.weights.h5"}
PREVIOUS_FILE = {"torch": "previous.ckpt", "keras": "backup/previous.weights.h5"}
OWNER_TEXT = {
    "torch": "a DeepLabV3/mobilenet_v3_large (torch) run on synthetic (11 classes)",
    "keras": "an ENet (Keras) run on synthetic (11 classes)",
}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


@dataclass
class Started:
    """A running ``segtrain train`` whose combined output goes to ``log``."""

    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def epochs(self) -> list[int]:
        return [int(r["epoch"]) for r in parse_metric_lines(self.output())]

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)


@dataclass
class Runner:
    """``segtrain train`` of one engine in one working directory."""

    engine: str
    cwd: Path

    def argv(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "segtrain.cli", "train", *ENGINE_ARGS[self.engine], *extra]

    def run(self, *extra: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(*extra),
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_env(),
        )

    def start(self, *extra: str, name: str = "run") -> Started:
        log = self.cwd / f"{name}-{time.monotonic_ns()}.out"
        with open(log, "w") as fh:
            proc = subprocess.Popen(
                self.argv(*extra), cwd=self.cwd, stdout=fh, stderr=subprocess.STDOUT, env=_env()
            )
        return Started(proc, log)


def wait_for(condition: Callable[[], bool], started: Started, timeout: float, poll=0.002) -> bool:
    """Poll ``condition`` until it holds (True) or the run ends / time runs out (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if started.proc.poll() is not None:
            return condition()
        time.sleep(poll)
    return False


def writing_checkpoint(directory: Path) -> Callable[[], bool]:
    """True while a checkpoint is being written: the ``.tmp-`` file (or sharded dir) of
    an atomic write of weights exists (not the small metadata files)."""

    def partial(name: str) -> bool:
        return name.startswith(".tmp-") and ("ckpt" in name or "weights" in name)

    def check() -> bool:
        return any(partial(n) for _, dirs, files in os.walk(directory) for n in (*dirs, *files))

    return check


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except Hydra's own per-launch records
    (``.hydra/``, the appended ``*.log``) and this suite's captured outputs."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or ".hydra" in rel.parts or path.suffix in (".log", ".out"):
            continue
        out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def epochs_of(text: str) -> list[int]:
    return [int(r["epoch"]) for r in parse_metric_lines(text)]


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


@dataclass
class FinishedRun:
    engine: str
    work: Path
    stdout: str

    @property
    def run_dir(self) -> Path:
        return self.work / "run"

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"


#: ``@pytest.mark.parametrize("engine", ..., indirect=True)`` values: both engines in the
#: default suite, or the Keras one (a minute or more per trained run) marked slow
BOTH = ["torch", "keras"]
KERAS_SLOW = ["torch", pytest.param("keras", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def engine(request) -> str:
    """The engine a test runs (parametrized indirectly by each test)."""
    return request.param


@pytest.fixture(scope="module")
def finished_run(engine, tmp_path_factory) -> FinishedRun:
    """An uninterrupted 2-epoch run of ``engine`` (shared by the tests of a module)."""
    work = tmp_path_factory.mktemp(f"finished-{engine}")
    out = Runner(engine, work).run("trainer.max_epochs=2", "hydra.run.dir=run")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert epochs_of(out.stdout) == [1, 2]
    return FinishedRun(engine, work, out.stdout)
