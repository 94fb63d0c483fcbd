"""Sweeper options, registered under ``hydra/sweeper`` as ``segtrain_optuna``.

Imported by Hydra's plugin scan, so it imports nothing heavy (Optuna is imported only
when a sweep starts). No ``from __future__ import annotations``: the scan executes the
module before it is in ``sys.modules``, where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class OptunaSweeperConf:
    """Bayesian (TPE) or random search over Hydra overrides, one launcher job per trial.

    Each trial is an ordinary job of the active launcher, so the same sweep runs locally
    or as SageMaker training jobs (``hydra/launcher=sagemaker`` with ``wait=true`` returns
    each job's objective). The objective is what the task returns (``optimized_metric``).
    """

    _target_: str = "hydra_plugins.segtrain_optuna.sweeper.OptunaSweeper"
    # maximize (mIoU, accuracy) or minimize (a loss)
    direction: str = "maximize"
    # tpe (Bayesian) | random
    sampler: str = "tpe"
    seed: int = 42
    n_trials: int = 20
    # trials launched together (parallel SageMaker jobs); TPE sees their results afterwards
    n_jobs: int = 1
    # null: in memory; e.g. sqlite:///optuna.db makes a sweep resumable
    storage: Any = None
    study_name: Any = None
    # search space in Hydra's sweep syntax, e.g.
    #   model.lr: tag(log, interval(1e-4, 1e-2))   model.optimizer: choice(adam, adamw)
    #   trainer.batch_size: range(4, 17, step=4)
    params: dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="segtrain_optuna", node=OptunaSweeperConf, provider="segtrain"
)
