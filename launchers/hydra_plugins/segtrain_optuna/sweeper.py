"""The Optuna sweeper: ask trials, launch them as Hydra jobs, tell Optuna their objective.

Kept thin: the search space is :mod:`.space`, the jobs are the active launcher's (local
or SageMaker), and the objective is whatever the task returns (segtrain's train task
returns ``optimized_metric``). A failed or non-finite trial is told to Optuna as failed
and the sweep goes on; the sweep fails only when every trial failed.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.segtrain_optuna.space import Dimension, as_override, search_space
from omegaconf import DictConfig, OmegaConf

from segtrain.errors import ConfigError, SegtrainError
from segtrain.runtime.checkpoints import atomic_write_text

log = logging.getLogger(__name__)

DIRECTIONS = ("maximize", "minimize")
SAMPLERS = ("tpe", "random")
RESULTS_FILE = "optimization_results.yaml"


def _objective(ret: JobReturn) -> float | None:
    """The trial's value, or None when the job failed or returned no finite number."""
    if ret.status != JobStatus.COMPLETED:
        return None
    value = ret.return_value
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        direction: str = "maximize",
        sampler: str = "tpe",
        seed: int = 42,
        n_trials: int = 20,
        n_jobs: int = 1,
        storage: str | None = None,
        study_name: str | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        if direction not in DIRECTIONS:
            raise ConfigError(
                f"hydra.sweeper.direction={direction!r}; expected one of {DIRECTIONS}"
            )
        if sampler not in SAMPLERS:
            raise ConfigError(f"hydra.sweeper.sampler={sampler!r}; expected one of {SAMPLERS}")
        if int(n_trials) < 1 or int(n_jobs) < 1:
            raise ConfigError(
                f"hydra.sweeper.n_trials={n_trials}, n_jobs={n_jobs}: both must be at least 1"
            )
        self.direction = direction
        self.sampler_name = sampler
        self.seed = int(seed)
        self.n_trials = int(n_trials)
        self.n_jobs = int(n_jobs)
        self.storage = storage
        self.study_name = study_name
        self.params = dict(params or {})
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _study(self) -> Any:
        import optuna

        sampler = (
            optuna.samplers.TPESampler(seed=self.seed)
            if self.sampler_name == "tpe"
            else optuna.samplers.RandomSampler(seed=self.seed)
        )
        return optuna.create_study(
            direction=self.direction,
            sampler=sampler,
            storage=self.storage,
            study_name=self.study_name,
            load_if_exists=self.storage is not None,
        )

    def sweep(self, arguments: list[str]) -> list[dict[str, Any]]:
        assert self.config is not None and self.launcher is not None
        dims, fixed = search_space(list(arguments), self.params)
        distributions = {d.key: d.distribution() for d in dims}
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(sweep_dir / "multirun.yaml", OmegaConf.to_yaml(self.config))
        study = self._study()
        todo = self._trials_left(study)
        log.info(
            "Optuna %s search (%s) over %s; %d trials, %d at a time",
            self.sampler_name,
            self.direction,
            _describe(dims),
            self.n_trials,
            self.n_jobs,
        )
        trials_run: list[dict[str, Any]] = []
        job_idx = 0
        while job_idx < todo:
            size = min(self.n_jobs, todo - job_idx)
            trials_run += self._run_batch(study, distributions, fixed, size, job_idx)
            job_idx += size
        self._save_results(study, trials_run, sweep_dir)
        return trials_run

    def _trials_left(self, study: Any) -> int:
        """``n_trials`` counts the whole study, so a resumed persistent one runs the rest."""
        done = sum(1 for t in study.trials if t.state.is_finished())
        todo = max(self.n_trials - done, 0)
        if done:
            log.info(
                "Study %s already holds %d of %d trials; running %d more",
                study.study_name,
                done,
                self.n_trials,
                todo,
            )
        return todo

    def _run_batch(
        self,
        study: Any,
        distributions: dict[str, Any],
        fixed: list[str],
        size: int,
        job_idx: int,
    ) -> list[dict[str, Any]]:
        """Ask ``size`` trials, launch them as one batch of jobs, tell Optuna the results."""
        import optuna

        trials = [study.ask(distributions) for _ in range(size)]
        batch = [[*fixed, *(as_override(k, t.params[k]) for k in distributions)] for t in trials]
        self.validate_batch_is_legal(batch)
        returns = self.launcher.launch(batch, initial_job_idx=job_idx)
        run = []
        for trial, ret, overrides in zip(trials, returns, batch, strict=True):
            value = _objective(ret)
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                log.warning(
                    "trial %d failed (%s): %s", trial.number, ret.status.name, " ".join(overrides)
                )
            else:
                study.tell(trial, value)
            run.append({"number": trial.number, "params": dict(trial.params), "value": value})
        return run

    def _save_results(self, study: Any, trials_run: list[dict[str, Any]], sweep_dir: Path) -> None:
        """``optimization_results.yaml``: the best trial's values and every trial run."""
        import optuna

        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not completed:
            raise SegtrainError(f"all {len(trials_run)} trials of the sweep failed ({sweep_dir})")
        best = study.best_trial
        results = {
            "name": "optuna",
            "direction": self.direction,
            "best_params": dict(best.params),
            "best_value": best.value,
            "best_trial": best.number,
            "trials": trials_run,
        }
        atomic_write_text(sweep_dir / RESULTS_FILE, OmegaConf.to_yaml(OmegaConf.create(results)))
        log.info(
            "Best objective %.4f (%s) with %s (results in %s)",
            best.value,
            self.direction,
            best.params,
            sweep_dir / RESULTS_FILE,
        )


def _describe(dims: list[Dimension]) -> str:
    parts = []
    for d in dims:
        if d.kind == "categorical":
            parts.append(f"{d.key} in {list(d.choices)}")
        else:
            parts.append(f"{d.key} in [{d.low}, {d.high}]{' log' if d.log else ''}")
    return ", ".join(parts)
