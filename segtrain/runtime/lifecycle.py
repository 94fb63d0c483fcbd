"""The run lifecycle both engines share: whose checkpoint dir, finished or not, which
checkpoint to resume from, and what SIGTERM / SIGINT do.

A training job on SageMaker (spot or not) can be stopped at any instant, restarted with
the same checkpoint dir, or simply run again. The promises, kept here once and called
by both engines (nothing here imports a framework):

- **Ownership.** A checkpoint dir carries ``owner.json`` (model, framework, dataset,
  number of classes). Another model, engine or dataset pointed at it is refused with one
  line naming whose it is (dirs written before the stamp existed are recognised from
  their ``config.yaml``/``classes.json`` or, failing that, their files).
- **Finished runs.** After the final model is exported, ``finished.json`` records the
  run's result (written atomically, last). Running the same command again reports that
  result without training or writing anything; ``resume=false`` or a new dir starts over.
- **Rotation and fallback.** ``last`` is written after every epoch; the one it replaces
  is kept as ``previous``. A checkpoint that cannot be loaded is skipped with a warning
  naming the file (and renamed ``*.unreadable``); when none is left the run fails with
  one :class:`~segtrain.errors.CheckpointError` line. Load errors are reported in one
  sanitised line: never torch's advice to retry with ``weights_only=False``.
- **Signals.** :class:`StopSignals` turns SIGTERM / SIGINT into a request to stop at the
  next step boundary; the engine abandons the partial epoch (``last`` already holds the
  last complete one, so the rerun resumes at the interrupted epoch's start and no epoch
  is reported twice) and raises :class:`~segtrain.errors.RunInterrupted` (exit 128 +
  signal number: 143 for SIGTERM, 130 for SIGINT), well inside SageMaker's 120 s grace.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import threading
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import numpy as np
from omegaconf import DictConfig, OmegaConf

from segtrain.errors import CheckpointError, RunInterrupted
from segtrain.runtime.checkpoints import atomic_write_text

log = logging.getLogger(__name__)

OWNER_FILE = "owner.json"
FINISHED_FILE = "finished.json"
UNREADABLE_SUFFIX = ".unreadable"
#: how a model of each framework is named in messages
FRAMEWORK_NAMES = {"torch": "torch", "keras": "Keras"}
MODEL_NAMES = {"enet": "ENet", "deeplabv3": "DeepLabV3"}

T = TypeVar("T")


# ------------------------------------------------------------------------- ownership
@dataclass(frozen=True)
class RunOwner:
    """What a checkpoint dir belongs to: a checkpoint of another owner cannot resume."""

    model: str
    framework: str
    dataset: str
    num_classes: int | None = None

    @classmethod
    def from_config(cls, cfg: Any, num_classes: int | None) -> RunOwner:
        """The owner a run of ``cfg`` (its model / dataset groups) stamps its dir with.

        DeepLabV3's backbone is part of the model's identity (its checkpoints do not load
        into another backbone); ENet's ``backbone: none`` is not.
        """
        model = str(_get(cfg, "model.name", "?"))
        backbone = _get(cfg, "model.backbone", None)
        if backbone not in (None, "none", "None", ""):
            model = f"{model}/{backbone}"
        return cls(
            model=model,
            framework=str(_get(cfg, "model.framework", "?")),
            dataset=str(_get(cfg, "dataset.name", "?")),
            num_classes=None if num_classes is None else int(num_classes),
        )

    def describe(self) -> str:
        """``a DeepLabV3/mobilenet_v3_large (torch) run on synthetic (11 classes)``."""
        framework = FRAMEWORK_NAMES.get(self.framework, self.framework)
        if self.model == "?":
            return f"a run of the {framework} engine"
        name, _, variant = self.model.partition("/")
        shown = MODEL_NAMES.get(name, name) + (f"/{variant}" if variant else "")
        dataset = f" on {self.dataset}" if self.dataset != "?" else ""
        classes = f" ({self.num_classes} classes)" if self.num_classes is not None else ""
        return f"{_article(shown)} {shown} ({framework}) run{dataset}{classes}"

    def differs_from(self, other: RunOwner) -> list[str]:
        """The fields that tell the two apart (unknown ``?`` and class counts match)."""
        out = []
        for name in ("model", "framework", "dataset"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if "?" not in (mine, theirs) and mine != theirs:
                out.append(name)
        if None not in (self.num_classes, other.num_classes) and (
            self.num_classes != other.num_classes
        ):
            out.append("num_classes")
        return out


def _get(cfg: Any, dotted: str, default: Any) -> Any:
    conf = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
    value = OmegaConf.select(conf, dotted, default=None)
    return default if value is None else value


def read_owner(directory: str | os.PathLike) -> RunOwner | None:
    """The owner of ``directory``: its stamp, else what its files say (None: no run)."""
    d = Path(directory)
    stamp = d / OWNER_FILE
    if stamp.is_file():
        try:
            data = json.loads(stamp.read_text())
            return RunOwner(
                model=str(data["model"]),
                framework=str(data["framework"]),
                dataset=str(data["dataset"]),
                num_classes=None if data.get("num_classes") is None else int(data["num_classes"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("%s is unreadable: judging the directory by its files", stamp)
    return _owner_from_files(d)


def _owner_from_files(d: Path) -> RunOwner | None:
    """A dir written before ``owner.json`` existed: its config.yaml, else its files."""
    config = d / "config.yaml"
    if config.is_file():
        try:
            cfg = OmegaConf.load(config)
            classes = None
            if (d / "classes.json").is_file():
                classes = len(json.loads((d / "classes.json").read_text())["names"])
            return RunOwner.from_config(cfg, classes)
        except Exception:  # a foreign or damaged config: fall back to the file kinds
            pass
    if not d.is_dir():
        return None
    if (d / "backup").is_dir() or any(d.glob("*.weights.h5")):
        return RunOwner(model="?", framework="keras", dataset="?")
    if any(d.glob("*.ckpt")):
        return RunOwner(model="?", framework="torch", dataset="?")
    return None


def claim_directory(directory: str | os.PathLike, owner: RunOwner, write: bool) -> None:
    """Refuse a dir that belongs to another run; stamp an unstamped one (``write``).

    Called before the run writes anything there, so a refused run changes nothing.
    """
    d = Path(directory)
    existing = read_owner(d)
    if existing is not None and (diff := owner.differs_from(existing)):
        raise CheckpointError(
            f"paths.checkpoint_dir={d} holds the checkpoints of {existing.describe()}; this "
            f"is {owner.describe()} (different {', '.join(diff)}): point paths.checkpoint_dir "
            "at another directory, or delete that one to start over"
        )
    if write and not (d / OWNER_FILE).is_file():
        atomic_write_text(d / OWNER_FILE, json.dumps(asdict(owner), indent=2) + "\n")


# ---------------------------------------------------------------------- finished runs
def mark_finished(directory: str | os.PathLike, result: Any) -> None:
    """Record a finished run's result (an engine's ``RunResult``).

    Call it after the final model is exported: it is the last file a run writes, so its
    presence means everything before it is complete.
    """
    confusion = getattr(result, "confusion", None)
    record = {
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "model_dir": str(result.model_dir),
        "epochs_completed": int(result.epochs_completed),
        "resumed_from": str(result.resumed_from) if result.resumed_from else None,
        "confusion": None if confusion is None else np.asarray(confusion).tolist(),
        "class_names": [str(n) for n in getattr(result, "class_names", None) or []],
    }
    atomic_write_text(Path(directory) / FINISHED_FILE, json.dumps(record, indent=2) + "\n")


def finished_result(
    directory: str | os.PathLike, max_epochs: int, model_file: str | os.PathLike
) -> dict[str, Any] | None:
    """The recorded result (``RunResult`` keyword arguments) of a finished run that
    this command would only repeat, or None.

    None when there is no record, when ``max_epochs`` asks for more epochs than it ran
    (the run continues from ``last``), or when ``model_file`` (the exported model where
    this run puts it) is missing, e.g. a new SageMaker job on an old checkpoint dir:
    resuming then trains nothing and exports the model again.
    """
    path = Path(directory) / FINISHED_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        result = {
            "metrics": {str(k): float(v) for k, v in record["metrics"].items()},
            "model_dir": Path(record["model_dir"]),
            "epochs_completed": int(record["epochs_completed"]),
            "resumed_from": Path(record["resumed_from"]) if record["resumed_from"] else None,
            "confusion": None
            if record.get("confusion") is None
            else np.asarray(record["confusion"], dtype=np.int64),
            "class_names": [str(n) for n in record.get("class_names") or []],
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        log.warning("%s is unreadable: treating the run as unfinished", path)
        return None
    if result["epochs_completed"] < int(max_epochs):
        log.info(
            "The run in %s finished %d epoch(s); continuing to %d",
            directory,
            result["epochs_completed"],
            max_epochs,
        )
        return None
    if not Path(model_file).exists():
        log.info("%s is missing: exporting the finished run's model again", model_file)
        return None
    return result


def repeat_of_finished(
    directory: str | os.PathLike,
    owner: RunOwner,
    resume: bool,
    max_epochs: int,
    model_file: str | os.PathLike,
) -> dict[str, Any] | None:
    """What an engine asks first: is this command a repeat of a finished run?

    Refuses another run's dir (nothing is written before); with ``resume`` the finished
    run's recorded result (``RunResult`` keyword arguments) to report again, else None.
    """
    claim_directory(directory, owner, write=False)
    if not resume:
        return None
    record = finished_result(directory, max_epochs, model_file)
    if record is not None:
        log.info(
            "The run in %s already finished (%d epochs): reporting its result again "
            "(resume=false or another paths.checkpoint_dir trains anew)",
            directory,
            record["epochs_completed"],
        )
    return record


def clear_finished(directory: str | os.PathLike) -> None:
    (Path(directory) / FINISHED_FILE).unlink(missing_ok=True)


def start_over(directory: str | os.PathLike, paths: Iterable[Path]) -> None:
    """``resume=false``: forget the finished record and the resumable checkpoints."""
    clear_finished(directory)
    for p in paths:
        remove_path(p)


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------- rotation / fallback
def rotate(last: Path, previous: Path) -> None:
    """Keep the current ``last`` (file or sharded dir) as ``previous`` before a new one.

    Each step is one rename, so a kill at any point leaves complete checkpoints only
    (between the two, no ``last`` and ``previous`` is the newest: resume takes it).
    """
    if not last.exists():
        return
    if previous.exists():
        remove_path(previous)
    os.replace(last, previous)


def first_loadable(
    candidates: Sequence[Path],
    load: Callable[[Path], T],
    quarantine: bool = True,
    expected: str | None = None,
) -> tuple[Path, T] | None:
    """The first of ``candidates`` (newest first) that ``load`` accepts, and its value.

    A candidate that fails is reported with a warning naming the file and why, and (with
    ``quarantine``, the process that writes checkpoints) renamed ``<name>.unreadable`` so
    the next rotation never keeps it. None when no candidate exists (a first run); a
    :class:`CheckpointError` when some exist and none loads.
    """
    present = [p for p in candidates if p.exists()]
    failures: list[str] = []
    for i, path in enumerate(present):
        try:
            return path, load(path)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:  # any failure to load means: not resumable
            reason = load_error_reason(path, err, expected)
            failures.append(f"{path}: {reason}")
            nxt = present[i + 1] if i + 1 < len(present) else None
            then = f"falling back to {nxt}" if nxt else "no older checkpoint is left"
            if quarantine:
                bad = path.with_name(path.name + UNREADABLE_SUFFIX)
                remove_path(bad)
                os.replace(path, bad)
                then = f"renamed it {bad.name}; {then}"
            log.warning("Checkpoint %s cannot be loaded (%s): %s", path, reason, then)
    if failures:
        raise CheckpointError(
            "no loadable checkpoint to resume from: "
            + "; ".join(failures)
            + " (set resume=false or use another paths.checkpoint_dir to start from scratch)"
        )
    return None


# ------------------------------------------------------------------- load error text
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


def file_kind(path: str | os.PathLike) -> str | None:
    """What a checkpoint file is, from its bytes: ``keras-weights`` (HDF5),
    ``keras-model`` (.keras zip), ``torch`` (torch zip or legacy pickle),
    ``torch-sharded`` (torch.distributed.checkpoint dir), ``savedmodel``; None: unknown."""
    p = Path(path)
    if p.is_dir():
        if (p / ".metadata").is_file():
            return "torch-sharded"
        if (p / "saved_model.pb").is_file():
            return "savedmodel"
        return None
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return None
    if head.startswith(HDF5_MAGIC):
        return "keras-weights"
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(p) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return None
        if "config.json" in names and "metadata.json" in names:
            return "keras-model"
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return "torch"
        return None
    if head[:1] == b"\x80":  # a pickle: torch's legacy (non-zip) format
        return "torch"
    return None


_KIND_FRAMEWORK = {
    "keras-weights": "keras",
    "keras-model": "keras",
    "savedmodel": "keras",
    "torch": "torch",
    "torch-sharded": "torch",
}
_ADVICE = re.compile(r"weights_only\s*=?\s*False|weights_only` set to `False|trust", re.I)


def load_error_reason(path: Path, err: BaseException, expected: str | None = None) -> str:
    """One line saying why ``path`` did not load, fit for a user and a log.

    A file of the other framework says so ("this is an ENet (Keras) model"). torch's
    ``weights_only`` refusal is reduced to what was refused; its advice to retry with
    ``weights_only=False`` (arbitrary code execution for an untrusted file) is never
    repeated.
    """
    kind = file_kind(path)
    framework = _KIND_FRAMEWORK.get(kind or "")
    if expected and framework and framework != expected:
        owner = read_owner(path.parent if path.is_file() else path) or read_owner(
            path.parent.parent
        )
        model = owner.model.split("/")[0] if owner and owner.framework == framework else "?"
        if model == "?":  # segtrain's built-in model of that engine
            model = "enet" if framework == "keras" else "deeplabv3"
        shown = MODEL_NAMES.get(model, model)
        return (
            f"this is {_article(shown)} {shown} ({FRAMEWORK_NAMES[framework]}) model "
            f"({kind}), not a {FRAMEWORK_NAMES.get(expected, expected)} checkpoint"
        )
    text = " ".join(str(err).split()) or type(err).__name__
    if "Weights only load failed" in text or "WeightsUnpickler" in text:
        found = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|$)", text)
        detail = found.group(1).strip() if found else "it holds more than tensors"
        detail = ". ".join(s for s in detail.split(". ") if not _ADVICE.search(s))
        return (
            f"it holds Python objects beyond tensors and plain data ({detail}); segtrain "
            "loads checkpoints safely and never runs code from a file"
        )
    text = ". ".join(s for s in text.split(". ") if not _ADVICE.search(s))
    if "PytorchStreamReader failed" in text or "central directory" in text:
        return f"the file is truncated or corrupt ({text[:200]})"
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(err).__name__}: {text}" if type(err).__name__ not in text else text


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeio" else "a"


# --------------------------------------------------------------------------- signals
class StopTraining(BaseException):
    """Raised at a step boundary after SIGTERM / SIGINT (BaseException: never caught by
    an ``except Exception`` inside a framework's loop)."""


class StopSignals:
    """While active, SIGTERM and SIGINT request a stop instead of ending the process.

    ``check()`` (called by an engine at every step boundary) raises
    :class:`StopTraining` once a signal arrived. A second signal of either kind raises
    ``KeyboardInterrupt`` at once (the user insists). ``interrupt_on`` names signals that
    raise ``KeyboardInterrupt`` on the first arrival, for a loop that has its own
    handling of it (Lightning stops on KeyboardInterrupt and on its own SIGTERM flag,
    synchronised across ranks). Only the main thread can install handlers; elsewhere
    this is inert.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, interrupt_on: Iterable[int] = ()) -> None:
        self.signum: int | None = None
        self.interrupt_on = set(interrupt_on)
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "no signal"

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
            log.warning(
                "Received %s: stopping at the next step boundary (the partial epoch is "
                "abandoned; the last complete epoch's checkpoint stays)",
                signal.Signals(signum).name,
            )
        if not first or signum in self.interrupt_on:
            raise KeyboardInterrupt

    def check(self) -> None:
        if self.signum is not None:
            raise StopTraining(self.name)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def interrupted(
        self, epochs_done: int, max_epochs: int, resume_from: Path | None
    ) -> RunInterrupted:
        """The one-line error a stopped run exits with (128 + signal number)."""
        signum = self.signum or signal.SIGINT
        name = signal.Signals(signum).name
        if epochs_done > 0 and resume_from is not None:
            where = (
                f"{epochs_done} of {max_epochs} epoch(s) are saved in {resume_from}; run the "
                f"same command again to resume at epoch {epochs_done + 1}"
            )
        else:
            where = "no epoch was complete: running the same command again starts from epoch 1"
        return RunInterrupted(f"training stopped by {name}: {where}", signum)
