"""Hydra ``Launcher`` plugins: ``hydra/launcher=sagemaker`` and ``hydra/launcher=sagemaker_local``.

Thin on purpose: Hydra's plugin scan imports this module in every Hydra app, so the
work (and boto3, the SageMaker SDK) lives in ``_core`` and is imported on first launch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.errors import CompactHydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from segtrain.errors import LaunchError, SegtrainError

from . import config as _config  # noqa: F401  (registers hydra/launcher=sagemaker*)


class ReportedLaunchError(LaunchError, CompactHydraException):
    """A LaunchError Hydra prints as its message alone (no traceback), then exits 1."""


class SageMakerLauncher(Launcher):
    """Each job of a sweep becomes one SageMaker training job."""

    local = False

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from ._core import launch

        try:
            return launch(self, job_overrides, initial_job_idx)
        except SegtrainError as err:
            message = " ".join(str(err).split())
            raise ReportedLaunchError(f"{type(err).__name__}: {message}") from err


class SageMakerLocalLauncher(SageMakerLauncher):
    """The same job spec, run on this machine through the training toolkit (no Docker)."""

    local = True
