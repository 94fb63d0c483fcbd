"""Library noise off by default, in one place; ``verbose=true`` or ``hydra.verbose`` shows it.

A training log should hold segtrain's lines, the metric lines and real problems. The
libraries underneath add start-up banners and advice that say nothing about the run:
TensorFlow's C++ start-up lines (the absl pre-init notice, the oneDNN notice; TensorFlow
2.21 prints them whatever ``TF_CPP_MIN_LOG_LEVEL`` says), Keras' and Lightning's advisory
warnings (the litlogger / tensorboardX tips, few workers, ``sync_dist``, the logging
interval, the accelerator census). :func:`configure` is called once per process before a
task runs (by the CLI and by the SageMaker container side); the engine loader wraps the
framework import in :func:`native_start_up_filtered`. Every pattern below is a known
line: anything else still gets through, warnings and errors included.

This module imports no framework (``runtime`` never does), so it can run before one is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterator

#: environment read by the frameworks at import (set only where the user has not)
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
VERBOSE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "0"}

#: lines the TensorFlow shared libraries write straight to file descriptor 2
NATIVE_NOISE = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    re.compile(r"^I\d{4} .*\] oneDNN custom operations are on"),
    re.compile(r"^I\d{4} .*cpu_feature_guard.*This TensorFlow binary is optimized"),
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow"),
)

#: Python warnings (message regexes) that are advice, not a problem of this run
WARNING_NOISE = (
    r".*litlogger",
    r".*tensorboardX",
    r"The '\w+_dataloader' does not have many workers",
    r"It is recommended to use `self\.log\(",  # validation scores are all-reduced already
    r"The number of training batches \(\d+\) is smaller than the logging interval",
    r"Checkpoint directory .* exists and is not empty",
    r".*isinstance\(treespec, LeafSpec\)",
    r"`shuffle=True` was passed, but will be ignored",  # a tf.data pipeline shuffles itself
)

#: log records (message regexes) by logger name
LOG_NOISE = {
    "lightning.pytorch.utilities.rank_zero": (
        r".*litlogger",
        r".*tensorboardX",
        r"(GPU|TPU|HPU) available: ",
        r"Loading `\w+_dataloader` to estimate number of stepping batches",
        r"`Trainer\.fit` stopped: ",
        r"LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES",
    ),
    "lightning.fabric.utilities.rank_zero": (r"(GPU|TPU|HPU) available: ",),
    "absl": (r".*",),  # absl's Python warnings (Keras saving advice); errors still pass
}

_state = {"verbose": False}


class _DropMatching(logging.Filter):
    """Drops records below ERROR whose message matches one of ``patterns``."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        super().__init__("segtrain.noise")
        self.rx = re.compile("|".join(f"(?:{p})" for p in patterns))

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not self.rx.match(record.getMessage())


def is_verbose() -> bool:
    """Whether :func:`configure` was last told to let the noise through."""
    return _state["verbose"]


def configure(verbose: bool = False) -> None:
    """Quiet the known library noise (or, ``verbose``, let it through); idempotent.

    Environment variables are set only where the user has not set them, and only matter
    before the framework is imported, which the engines do lazily after this call.
    """
    _state["verbose"] = verbose
    for name, value in (VERBOSE_ENV if verbose else QUIET_ENV).items():
        os.environ.setdefault(name, value)
    for name in LOG_NOISE:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, _DropMatching)]:
            logger.removeFilter(old)
    if verbose:
        return
    for pattern in WARNING_NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    for name, patterns in LOG_NOISE.items():
        logging.getLogger(name).addFilter(_DropMatching(patterns))


def verbose_requested(cfg: object) -> bool:
    """``verbose=true`` in a composed config, or Hydra's ``hydra.verbose`` set for this run."""
    verbose = bool(getattr(cfg, "get", lambda *_: False)("verbose", False))
    with contextlib.suppress(Exception):  # outside a Hydra run there is no HydraConfig
        from hydra.core.hydra_config import HydraConfig

        verbose = verbose or bool(HydraConfig.get().verbose)
    return verbose


@contextlib.contextmanager
def native_start_up_filtered() -> Iterator[None]:
    """Drop :data:`NATIVE_NOISE` lines written to fd 2 while the body runs (a framework
    import); every other line is passed on as it arrives. Does nothing when verbose or
    when fd 2 cannot be redirected (no real stderr)."""
    if _state["verbose"]:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(target=_pass_on, args=(read_end, saved), daemon=True)
    pump.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump sees EOF
        pump.join(timeout=5)
        os.close(saved)


def _pass_on(read_end: int, target: int) -> None:
    with os.fdopen(read_end, "rb") as lines:
        for line in lines:
            text = line.decode("utf-8", "replace")
            if not any(rx.match(text) for rx in NATIVE_NOISE):
                os.write(target, line)
