"""Tuner options, registered under ``hydra/sweeper`` as ``segtrain_sagemaker_tuner``.

Imported by Hydra's plugin scan, so it imports nothing heavy; no
``from __future__ import annotations`` (the scan executes the module before it is in
``sys.modules``, where dataclasses cannot resolve string annotations).
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class SageMakerTunerConf:
    """``sweep=sagemaker_tuner``: one SageMaker hyperparameter tuning job for the sweep.

    The search space is the Optuna sweeper's syntax (``params`` or sweep overrides); the
    training-job definition is what ``hydra/launcher=sagemaker`` would submit, so every
    ``hydra.launcher.*`` setting (role, bucket, image, spot, VPC, KMS ...) applies.
    """

    _target_: str = "hydra_plugins.segtrain_sagemaker.tuner.SageMakerTuner"
    # Bayesian | Random | Grid | Hyperband
    strategy: str = "Bayesian"
    # maximize | minimize optimized_metric
    direction: str = "maximize"
    max_jobs: int = 10
    max_parallel_jobs: int = 1
    # seconds for the whole tuning job; null: no limit beyond SageMaker's
    max_runtime: Any = None
    # Off | Auto (Hyperband needs Off)
    early_stopping: str = "Off"
    # scaling of ranges not tagged log: Linear | Auto
    scaling: str = "Linear"
    seed: Any = None
    # Hyperband's resource, in epochs
    min_epochs: Any = None
    max_epochs: Any = None
    # {target: <objective value>, not_improving: <trials>}
    completion: dict[str, Any] = field(default_factory=dict)
    # {parents: [<tuning job>], type: IdenticalDataAndAlgorithm | TransferLearning}
    warm_start: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # null: <launcher job_name_prefix>-<yymmdd-hhmmss> (at most 32 characters)
    tuning_job_name: Any = None
    # false: print the name, ARN and console link and return
    wait: bool = True
    poll_seconds: float = 30.0
    # run the trials here through the docker-free runner instead of submitting
    local: bool = False
    params: dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="segtrain_sagemaker_tuner",
    node=SageMakerTunerConf,
    provider="segtrain",
)
