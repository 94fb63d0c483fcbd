"""What both engines' run lifecycles share (framework-free; see ``runtime.lifecycle``).

:class:`EngineRun` holds one fit's checkpoint dir, its owner and plan; the Lightning
engine's ``RunLifecycle`` and the Keras engine's ``KerasRun`` add how their framework
saves, loads and stops.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from segtrain.engines.base import RunResult
from segtrain.runtime import lifecycle
from segtrain.runtime.artifacts import WEIGHT_FILES
from segtrain.runtime.env import RunContext


class EngineRun:
    """One fit's lifecycle: ``finished()`` before anything is written, ``claim()``
    before the first write, ``complete(result)`` after the final model is exported."""

    framework = ""  # WEIGHT_FILES key of the engine's exported model

    def __init__(
        self,
        cfg: DictConfig,
        ctx: RunContext,
        num_classes: int,
        is_chief: bool,
        stop: lifecycle.StopSignals,
    ) -> None:
        self.cfg, self.ctx, self.is_chief, self.stop = cfg, ctx, is_chief, stop
        self.directory = Path(ctx.checkpoint_dir)
        self.owner = lifecycle.RunOwner.from_config(cfg, num_classes)
        self.max_epochs = int(cfg.trainer.max_epochs)

    def finished(self) -> RunResult | None:
        """The recorded result when this command would only repeat a finished run."""
        record = lifecycle.repeat_of_finished(
            self.directory,
            self.owner,
            bool(self.cfg.resume),
            self.max_epochs,
            Path(self.ctx.model_dir) / WEIGHT_FILES[self.framework],
        )
        if record is None:
            return None
        return RunResult(**record, extra={"history": [], "already_finished": True})

    def claim(self) -> None:
        """Stamp the dir as this run's (refusing another run's) before writing to it."""
        if self.is_chief:
            lifecycle.claim_directory(self.directory, self.owner, write=True)

    def complete(self, result: RunResult) -> RunResult:
        """Record the finished run (the last file it writes)."""
        if self.is_chief:
            lifecycle.mark_finished(self.directory, result)
        return result
