"""Sweep syntax + one training-job request -> one ``CreateHyperParameterTuningJob``. Pure.

The search space comes from THE sweep-syntax parser (:mod:`hydra_plugins.segtrain_optuna.space`),
so ``sweep=optuna`` and ``sweep=sagemaker_tuner`` read the same overrides; the
``TrainingJobDefinition`` is the launcher's own ``CreateTrainingJob`` request
(:func:`._request.build_request`) reshaped, so image, compute, distribution, spot, VPC,
KMS, environment and channels are decided in one place. Every rule SageMaker would reject
the request for, and the user can fix, is a one-line :class:`~segtrain.errors.LaunchError`
naming the setting; the finished request then goes through the strict service-model check
(:mod:`._validate`), like a training job.

How the syntax maps (the API has no stepped ranges, so a stepped range lists its values):

* ``interval(a, b)`` -> ContinuousParameterRange, ``tag(log, ...)`` Logarithmic scaling,
  otherwise ``scaling`` (Linear by default, or Auto);
* ``tag(int, interval(a, b))`` and ``range(a, b)`` (step 1) -> IntegerParameterRange;
* ``range(a, b, step=s)`` with s != 1, ``choice(...)``, ``a,b,c`` -> CategoricalParameterRange
  of the values as SageMaker passes them (strings; turned back into typed values inside the
  trial by the schema, :mod:`._tuning_trial`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from hydra_plugins.segtrain_optuna.space import Dimension

from segtrain.errors import LaunchError

from ._request import TRAINING_JOB_SETTINGS
from ._validate import validate_request

OPERATION = "CreateHyperParameterTuningJob"
MAX_TUNING_JOB_NAME = 32
TUNING_JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
#: SageMaker's cap on the hyperparameters one tuning job searches (all ranges together)
MAX_TUNED = 20
STRATEGIES = ("Bayesian", "Random", "Grid", "Hyperband")
EARLY_STOPPING = ("Off", "Auto")
SCALINGS = ("Linear", "Auto")
WARM_START_TYPES = ("IdenticalDataAndAlgorithm", "TransferLearning")
#: static hyperparameter naming the tuned keys, so a trial turns exactly those back into
#: overrides (every other hyperparameter belongs to the toolkit)
TUNED_KEYS_HYPERPARAMETER = "segtrain_tuned_keys"
#: the training-job request's members that are per job, not per definition
_PER_JOB = ("TrainingJobName", "Tags", "HyperParameters", "CheckpointConfig")

#: request member -> the sweeper setting that fills it, named in a service-model violation
TUNER_SETTINGS = {
    "HyperParameterTuningJobName": "hydra.sweeper.tuning_job_name",
    "HyperParameterTuningJobConfig.ParameterRanges": "hydra.sweeper.params",
    "HyperParameterTuningJobConfig.ResourceLimits": "hydra.sweeper.max_jobs / max_parallel_jobs",
    "HyperParameterTuningJobConfig.TuningJobCompletionCriteria": "hydra.sweeper.completion",
    "WarmStartConfig": "hydra.sweeper.warm_start",
    "Tags": "hydra.sweeper.tags",
    **{f"TrainingJobDefinition.{k}": v for k, v in TRAINING_JOB_SETTINGS.items()},
}


def validate_tuning_job_name(name: str, setting: str = "hydra.sweeper.tuning_job_name") -> str:
    if len(name) > MAX_TUNING_JOB_NAME or not TUNING_JOB_NAME_RE.match(name):
        raise LaunchError(
            f"{setting}={name!r} is invalid: SageMaker allows at most "
            f"{MAX_TUNING_JOB_NAME} characters of [a-zA-Z0-9-], starting and ending with a "
            "letter or digit"
        )
    return name


def _number(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _categorical_value(value: Any) -> str:
    """The string SageMaker hands the trial; JSON-like so the schema reads it back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return _number(value) if isinstance(value, (int, float)) else str(value)


def _stepped_values(dim: Dimension) -> list[Any]:
    assert dim.low is not None and dim.high is not None and dim.step is not None
    count = round((dim.high - dim.low) / dim.step) + 1
    return [dim.low + i * dim.step for i in range(count)]


def parameter_ranges(dims: Sequence[Dimension], scaling: str = "Linear") -> dict[str, Any]:
    """``ParameterRanges`` for the searched dimensions; bad ranges are LaunchErrors."""
    if scaling not in SCALINGS:
        raise LaunchError(f"hydra.sweeper.scaling={scaling!r}; expected one of {SCALINGS}")
    if not dims:
        raise LaunchError(
            "the tuning job's search space is empty: give hydra.sweeper.params or a sweep "
            "override such as 'model.lr=tag(log, interval(1e-4, 1e-1))'"
        )
    if len(dims) > MAX_TUNED:
        raise LaunchError(
            f"{len(dims)} tuned hyperparameters ({', '.join(d.key for d in dims)}); a "
            f"SageMaker tuning job searches at most {MAX_TUNED}"
        )
    ranges: dict[str, list[dict[str, Any]]] = {
        "IntegerParameterRanges": [],
        "ContinuousParameterRanges": [],
        "CategoricalParameterRanges": [],
    }
    for dim in dims:
        stepped = dim.step is not None and dim.step != 1
        if dim.kind == "categorical" or stepped:
            values = list(dim.choices) if dim.kind == "categorical" else _stepped_values(dim)
            ranges["CategoricalParameterRanges"].append(
                {"Name": dim.key, "Values": [_categorical_value(v) for v in values]}
            )
            continue
        if dim.low is None or dim.high is None or not dim.low < dim.high:
            raise LaunchError(
                f"{dim.key}: a tuned range needs min < max, got [{dim.low}, {dim.high}]"
            )
        if dim.log and dim.low <= 0:
            raise LaunchError(f"{dim.key}: Logarithmic scaling needs min > 0, got {dim.low}")
        kind = "IntegerParameterRanges" if dim.kind == "int" else "ContinuousParameterRanges"
        ranges[kind].append(
            {
                "Name": dim.key,
                "MinValue": _number(dim.low),
                "MaxValue": _number(dim.high),
                "ScalingType": "Logarithmic" if dim.log else scaling,
            }
        )
    return {k: v for k, v in ranges.items() if v}


def tuning_config(
    ranges: Mapping[str, Any], opts: Mapping[str, Any], objective_metric: str
) -> dict[str, Any]:
    """``HyperParameterTuningJobConfig`` from the sweeper options (limits checked first)."""
    strategy = str(opts.get("strategy", "Bayesian"))
    if strategy not in STRATEGIES:
        raise LaunchError(f"hydra.sweeper.strategy={strategy!r}; expected one of {STRATEGIES}")
    early = str(opts.get("early_stopping", "Off"))
    if early not in EARLY_STOPPING:
        raise LaunchError(
            f"hydra.sweeper.early_stopping={early!r}; expected one of {EARLY_STOPPING}"
        )
    direction = str(opts.get("direction", "maximize"))
    if direction not in ("maximize", "minimize"):
        raise LaunchError(f"hydra.sweeper.direction={direction!r}; expected maximize or minimize")
    max_jobs, parallel = int(opts.get("max_jobs", 10)), int(opts.get("max_parallel_jobs", 1))
    if parallel < 1 or (strategy != "Grid" and max_jobs < 1):
        raise LaunchError(
            f"hydra.sweeper.max_jobs={max_jobs}, max_parallel_jobs={parallel}: both must be >= 1"
        )
    if strategy != "Grid" and parallel > max_jobs:
        raise LaunchError(f"hydra.sweeper.max_parallel_jobs={parallel} exceeds max_jobs={max_jobs}")
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": parallel}
    if strategy != "Grid":  # Grid runs every combination; SageMaker counts them itself
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    if opts.get("max_runtime"):
        limits["MaxRuntimeInSeconds"] = int(opts["max_runtime"])
    config: dict[str, Any] = {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {
            "Type": "Maximize" if direction == "maximize" else "Minimize",
            "MetricName": objective_metric,
        },
        "ResourceLimits": limits,
        "ParameterRanges": dict(ranges),
        "TrainingJobEarlyStoppingType": early,
    }
    if strategy == "Grid" and set(ranges) != {"CategoricalParameterRanges"}:
        raise LaunchError(
            "hydra.sweeper.strategy=Grid searches categorical ranges only (choice(...) or "
            "a stepped range(...)); interval(...) needs Bayesian, Random or Hyperband"
        )
    if strategy == "Hyperband":
        config["StrategyConfig"] = {"HyperbandStrategyConfig": _hyperband(opts, early)}
    if opts.get("seed") is not None:
        config["RandomSeed"] = int(opts["seed"])
    completion = _completion(opts.get("completion") or {})
    if completion:
        config["TuningJobCompletionCriteria"] = completion
    return config


def _hyperband(opts: Mapping[str, Any], early: str) -> dict[str, int]:
    if early != "Off":
        raise LaunchError(
            "hydra.sweeper.strategy=Hyperband stops trials itself: set "
            "hydra.sweeper.early_stopping=Off"
        )
    low, high = opts.get("min_epochs"), opts.get("max_epochs")
    if not high:
        raise LaunchError(
            "hydra.sweeper.strategy=Hyperband needs its resource, epochs: set "
            "hydra.sweeper.max_epochs (and optionally min_epochs)"
        )
    return {"MinResource": int(low or 1), "MaxResource": int(high)}


def _completion(spec: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.get("target") is not None:
        out["TargetObjectiveMetricValue"] = float(spec["target"])
    if spec.get("not_improving") is not None:
        out["BestObjectiveNotImproving"] = {
            "MaxNumberOfTrainingJobsNotImproving": int(spec["not_improving"])
        }
    unknown = set(spec) - {"target", "not_improving"}
    if unknown:
        raise LaunchError(
            f"hydra.sweeper.completion has unknown keys {sorted(unknown)}; expected target, "
            "not_improving"
        )
    return out


def training_job_definition(
    training_request: Mapping[str, Any], tuned_keys: Sequence[str], checkpoint_uri: str
) -> dict[str, Any]:
    """The launcher's CreateTrainingJob request as the tuning job's ``TrainingJobDefinition``.

    Per-job members go: the trial's name is SageMaker's (``TRAINING_JOB_NAME`` inside the
    trial), tags belong to the tuning job, and the single ``CheckpointConfig`` of all
    trials points at the tuning job's prefix (each trial keys its own sub-directory by its
    training-job name, :mod:`._tuning_trial`).
    """
    definition = {k: v for k, v in training_request.items() if k not in _PER_JOB}
    algorithm = dict(definition["AlgorithmSpecification"])
    algorithm.pop("EnableSageMakerMetricsTimeSeries", None)  # not in the tuner's shape
    definition["AlgorithmSpecification"] = algorithm
    static = dict(training_request.get("HyperParameters") or {})
    static.pop("sagemaker_job_name", None)  # would name the template, not the trial
    clash = sorted(set(static) & set(tuned_keys))
    if clash:
        raise LaunchError(f"tuned names {clash} clash with the container's own hyperparameters")
    static[TUNED_KEYS_HYPERPARAMETER] = json.dumps(list(tuned_keys))
    definition["StaticHyperParameters"] = static
    definition["CheckpointConfig"] = {
        **dict(training_request.get("CheckpointConfig") or {}),
        "S3Uri": checkpoint_uri,
    }
    return definition


def build_tuning_request(
    name: str,
    dims: Sequence[Dimension],
    training_request: Mapping[str, Any],
    opts: Mapping[str, Any],
    objective_metric: str,
    checkpoint_uri: str,
) -> dict[str, Any]:
    """The boto3 ``create_hyper_parameter_tuning_job`` keyword arguments, validated."""
    validate_tuning_job_name(name)
    defined = {
        d["Name"] for d in training_request["AlgorithmSpecification"].get("MetricDefinitions", [])
    }
    if objective_metric not in defined:
        raise LaunchError(
            f"optimized_metric={objective_metric!r} has no metric definition (known: "
            f"{sorted(defined)})"
        )
    ranges = parameter_ranges(dims, str(opts.get("scaling", "Linear")))
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": tuning_config(ranges, opts, objective_metric),
        "TrainingJobDefinition": training_job_definition(
            training_request, [d.key for d in dims], checkpoint_uri
        ),
    }
    warm = _warm_start(opts.get("warm_start") or {})
    if warm:
        request["WarmStartConfig"] = warm
    tags = list(training_request.get("Tags") or [])
    tags += [{"Key": str(k), "Value": str(v)} for k, v in (opts.get("tags") or {}).items()]
    if tags:
        request["Tags"] = tags
    validate_request(OPERATION, request, hints=TUNER_SETTINGS)
    return request


def _warm_start(spec: Mapping[str, Any]) -> dict[str, Any]:
    parents = list(spec.get("parents") or [])
    if not parents:
        return {}
    kind = str(spec.get("type", "IdenticalDataAndAlgorithm"))
    if kind not in WARM_START_TYPES:
        raise LaunchError(
            f"hydra.sweeper.warm_start.type={kind!r}; expected one of {WARM_START_TYPES}"
        )
    for parent in parents:
        validate_tuning_job_name(str(parent), "hydra.sweeper.warm_start.parents")
    return {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in parents],
        "WarmStartType": kind,
    }


_ABSENT = object()


def tuned_keys(hyperparameters: Mapping[str, Any]) -> list[str] | None:
    """The tuned names a tuning job's trial carries; None for a plain training job."""
    raw = hyperparameters.get(TUNED_KEYS_HYPERPARAMETER)
    if raw is None:
        return None
    keys = json.loads(raw) if isinstance(raw, str) else raw
    return [str(k) for k in keys]


def tuned_overrides(cfg: Any, hyperparameters: Mapping[str, Any]) -> list[str]:
    """Apply a trial's drawn values to the shipped config, validated by the task's schema.

    SageMaker passes every value as a string (the toolkit may have JSON-decoded it); each
    is parsed as a Hydra override value, set on a schema-typed copy of the config and the
    whole copy checked by :func:`segtrain.config.check_config`, so a value the schema
    refuses is a one-line ConfigError (the trial's FailureReason). Only the tuned names
    are read. Returns the overrides applied, in ``key=value`` form.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf, open_dict

    from segtrain.config import PRIMARY_SCHEMAS, check_config
    from segtrain.errors import ConfigError

    keys = tuned_keys(hyperparameters) or []
    parser = OverridesParser.create()
    applied: list[str] = []
    for key in keys:
        if key not in hyperparameters:
            raise ConfigError(f"tuned hyperparameter {key} is missing from hyperparameters.json")
        raw = hyperparameters[key]
        text = f"{key}={raw if isinstance(raw, str) else json.dumps(raw)}"
        try:
            (override,) = parser.parse_overrides([text])
        except Exception as err:
            raise ConfigError(f"tuned value {text!r} cannot be parsed: {err}") from None
        if OmegaConf.select(cfg, key, default=_ABSENT) is _ABSENT:
            raise ConfigError(f"tuned hyperparameter {key} is not a key of the shipped config")
        OmegaConf.update(cfg, key, override.value(), merge=False)
        applied.append(text)
    schema = PRIMARY_SCHEMAS.get(f"{OmegaConf.select(cfg, 'task', default='train')}_schema")
    if schema is not None and keys:
        typed = OmegaConf.structured(schema)
        task_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        try:
            with open_dict(typed):
                typed = OmegaConf.merge(typed, task_cfg)
        except Exception as err:
            raise ConfigError(f"tuned values {applied}: {' '.join(str(err).split())}") from None
        check_config(typed)
    return applied


def trial_checkpoint_dir(environ: Mapping[str, str], base_dir: str) -> str:
    """The trial's own checkpoint directory, keyed by its training-job name.

    One ``CheckpointConfig`` serves every trial of a tuning job, so each trial reads and
    writes only ``<checkpoint dir>/<training job name>/`` (a spot-restarted trial keeps its
    name, so it resumes its own files).
    """
    name = environ.get("TRAINING_JOB_NAME")
    if not name:
        raise LaunchError("a tuning-job trial without TRAINING_JOB_NAME cannot key its checkpoints")
    root = environ.get("SEGTRAIN_CHECKPOINT_DIR") or f"{base_dir.rstrip('/')}/checkpoints"
    return f"{root.rstrip('/')}/{name}"


def container_hyperparameters(environ: Mapping[str, str], base_dir: str) -> dict[str, Any]:
    """The job's hyperparameters: the toolkit's ``SM_HPS``, else hyperparameters.json."""
    if environ.get("SM_HPS"):
        return dict(json.loads(environ["SM_HPS"]))
    from pathlib import Path

    path = Path(base_dir, "input", "config", "hyperparameters.json")
    return dict(json.loads(path.read_text())) if path.is_file() else {}
