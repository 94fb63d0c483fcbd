"""Composed job config + launcher options -> one ``CreateTrainingJob`` request. Pure.

No AWS call happens here: every input (job name, S3 locations, image URI) is decided by
the caller, so the request can be built, validated and inspected offline (``dry_run``),
and tests can assert on it field by field. The request is in boto3's shape and follows
the framework containers' contract (the ``sagemaker-training`` toolkit inside every AWS
Deep Learning Container): ``sagemaker_program`` + ``sagemaker_submit_directory``
hyperparameters name the entry point and the source tarball, distribution is switched on
by ``sagemaker_*_enabled`` hyperparameters, and the composed config travels as a file in
its own input channel (hyperparameters are capped in number and length, and are passed
as ``--key value`` arguments, which Hydra does not parse).

Every rule SageMaker would reject a request for, and that the user can fix, is checked
here first and raised as a :class:`~segtrain.errors.LaunchError` naming the setting; the
finished request is then checked member by member against the service model
(:mod:`._validate`: patterns, lengths, enums, ranges), so a dry run that passes is a
request SageMaker accepts. Which container runs a framework is :mod:`._images`' table.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from segtrain.data.storage import split_s3_uri
from segtrain.errors import ConfigError, LaunchError
from segtrain.runtime import metric_log

from ._images import container, gpu_count, is_gpu_instance, known_instance_types
from ._validate import validate_request

log = logging.getLogger("segtrain.sagemaker")

#: script at the root of the source tarball that the toolkit runs (see _bundle.py)
ENTRY_POINT = "sm_entry.py"
#: channel holding the composed config (config.yaml)
CONFIG_CHANNEL = "config"
#: channel holding the dataset root (RunContext.data_dir on SageMaker)
DATA_CHANNEL = "train"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
CONFIG_FILE = "config.yaml"

MAX_JOB_NAME = 63
JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
CHANNEL_RE = re.compile(r"^[A-Za-z0-9.\-_]{1,64}$")
S3_URI_RE = re.compile(r"^s3://([^/]+)(/.*)?$")
TAG_RE = re.compile(r"^[\w\s.:/=+\-@]*$")
MAX_RUN_LIMIT = 28 * 24 * 3600  # SageMaker's cap on MaxRuntimeInSeconds
DEFAULT_MAX_RUN = 86400
DEFAULT_VOLUME_GB = 50

#: CreateTrainingJob member -> the launcher setting that fills it, named in a violation
#: of the service model (the tuning job nests the same under TrainingJobDefinition)
TRAINING_JOB_SETTINGS = {
    "TrainingJobName": "hydra.launcher.job_name_prefix",
    "RoleArn": "hydra.launcher.role",
    "AlgorithmSpecification.TrainingImage": "hydra.launcher.image_uri",
    "InputDataConfig": "hydra.launcher.channels",
    "OutputDataConfig.KmsKeyId": "hydra.launcher.kms_key",
    "ResourceConfig.VolumeKmsKeyId": "hydra.launcher.kms_key",
    "ResourceConfig.VolumeSizeInGB": "hydra.launcher.volume_size_gb",
    "ResourceConfig.InstanceType": "hydra.launcher.instance_type",
    "ResourceConfig.InstanceCount": "hydra.launcher.instance_count",
    "CheckpointConfig.S3Uri": "hydra.launcher.checkpoint_s3_uri",
    "Environment": "hydra.launcher.environment",
    "VpcConfig.Subnets": "hydra.launcher.subnets",
    "VpcConfig.SecurityGroupIds": "hydra.launcher.security_group_ids",
    "Tags": "hydra.launcher.tags",
}


@dataclass(frozen=True)
class JobPlan:
    """Where one job's pieces live; decided by the caller, so building stays pure."""

    job_name: str
    region: str
    image_uri: str
    code_uri: str  # s3://.../sourcedir.tar.gz
    config_uri: str  # s3://.../config/ (prefix holding config.yaml)
    output_uri: str  # S3OutputPath; SageMaker adds <job name>/output/model.tar.gz
    checkpoint_uri: str
    data_uri: str | None = None  # the dataset root, as the "train" channel
    extra_channels: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# naming and locations


def job_name(prefix: str, task: str, when: datetime, num: int) -> str:
    """``<prefix>-<task>-<yyyymmdd-hhmmss-mmm>-<num>``; unique per launch and job."""
    stamp = when.strftime("%Y%m%d-%H%M%S-") + f"{when.microsecond // 1000:03d}"
    suffix = f"-{task}-{stamp}-{num}"
    base = re.sub(r"[^a-zA-Z0-9-]+", "-", prefix).strip("-") or "segtrain"
    base = base[: MAX_JOB_NAME - len(suffix)].rstrip("-")
    name = re.sub(r"-+", "-", f"{base}{suffix}")
    validate_job_name(name)
    return name


def job_prefix_uri(bucket: str, prefix: str, name: str) -> str:
    parts = [p for p in (prefix.strip("/"), name) if p]
    return f"s3://{bucket}/" + "/".join(parts)


def plan_locations(bucket: str, prefix: str, name: str) -> dict[str, str]:
    """The job's S3 layout: everything under ``s3://<bucket>/<prefix>/<job name>/``."""
    root = job_prefix_uri(bucket, prefix, name)
    return {
        "code_uri": f"{root}/input/source/sourcedir.tar.gz",
        "config_uri": f"{root}/input/config/",
        "checkpoint_uri": f"{root}/checkpoints/",
        # SageMaker appends <job name>/output/{model,output}.tar.gz
        "output_uri": job_prefix_uri(bucket, prefix, ""),
    }


def data_location(
    cfg: Mapping[str, Any], opts: Mapping[str, Any], bucket: str
) -> tuple[str | None, Path | None]:
    """The dataset root as the ``train`` channel: ``(S3 URI or None, local dir to upload)``.

    An ``s3://`` root is the channel as is; a local root needs ``upload_data`` (it then
    goes to ``s3://<bucket>/<prefix>/data/<dataset name>/``); a procedural (synthetic)
    dataset is generated inside the job and needs no channel.
    """
    dataset = cfg.get("dataset")
    if not isinstance(dataset, Mapping) or not dataset.get("root"):
        return None, None
    root = str(dataset["root"])
    if root.startswith("s3://"):
        return (root if root.endswith("/") else root + "/"), None
    local = Path(root).expanduser()
    if opts.get("upload_data"):
        if not local.is_dir():
            raise LaunchError(
                f"dataset.root={root!r} is not a directory, so hydra.launcher.upload_data "
                "has nothing to upload"
            )
        uri = job_prefix_uri(bucket, str(opts.get("prefix", "")), "data")
        return f"{uri}/{dataset.get('name', local.name)}/", local.resolve()
    if dataset.get("format") == "synthetic":
        log.info("dataset %s is procedural: generated inside the job", dataset.get("name"))
        return None, None
    raise LaunchError(
        f"dataset.root={root!r} is a local path, but SageMaker reads data from S3: pass "
        "dataset.root=s3://<bucket>/<prefix> (see `segtrain data upload`) or "
        "hydra.launcher.upload_data=true to upload it with the job"
    )


def framework_of(cfg: Mapping[str, Any]) -> str:
    """``model.framework``; an app that is not a segtrain command (no ``model``) ships
    with the torch container's requirements."""
    model = cfg.get("model")
    return str(model["framework"]) if isinstance(model, Mapping) else "torch"


# --------------------------------------------------------------------------------------
# validation


def validate_job_name(name: str) -> None:
    if len(name) > MAX_JOB_NAME or not JOB_NAME_RE.match(name):
        raise LaunchError(
            f"training job name {name!r} is invalid: SageMaker allows at most "
            f"{MAX_JOB_NAME} characters of [a-zA-Z0-9-], starting and ending with a letter "
            "or digit (shorten hydra.launcher.job_name_prefix)"
        )


def validate_role(role: str | None) -> str:
    if not role:
        raise LaunchError(
            "hydra.launcher.role is not set: pass the IAM role SageMaker should assume, "
            "e.g. hydra.launcher.role=arn:aws:iam::123456789012:role/SageMakerExecution "
            "(or export SEGTRAIN_SAGEMAKER_ROLE)"
        )
    if not ROLE_ARN_RE.match(role):
        raise LaunchError(
            f"hydra.launcher.role={role!r} is not an IAM role ARN; expected "
            "arn:aws:iam::<12-digit account>:role/<name>"
        )
    return role


def validate_bucket(bucket: str | None) -> str:
    if not bucket:
        raise LaunchError(
            "hydra.launcher.bucket is not set: pass the S3 bucket for code, outputs and "
            "checkpoints, e.g. hydra.launcher.bucket=my-sagemaker-bucket (or export "
            "SEGTRAIN_SAGEMAKER_BUCKET)"
        )
    if not BUCKET_RE.match(bucket) or ".." in bucket or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket):
        raise LaunchError(
            f"hydra.launcher.bucket={bucket!r} is not a valid S3 bucket name: 3-63 "
            "characters of lowercase letters, digits, '.' and '-', starting and ending "
            "with a letter or digit (a bucket name, not an s3:// URI)"
        )
    return bucket


def validate_instance_type(instance_type: str | None) -> str:
    if not instance_type:
        raise LaunchError(
            "no SageMaker instance type: choose a SageMaker hardware preset "
            "(hardware=ml_g4dn_16xlarge, ml_p3_16xlarge, ml_p4d_24xlarge, ml_g5_xlarge, "
            "ml_m5_xlarge) or pass hydra.launcher.instance_type=ml.<type>"
        )
    known = known_instance_types()
    if instance_type not in known:
        close = sorted(t for t in known if t.split(".")[1:2] == instance_type.split(".")[1:2])
        hint = f"; same family: {', '.join(close[:8])}" if close else ""
        raise LaunchError(
            f"instance type {instance_type!r} is not a SageMaker training instance type "
            f"(expected e.g. ml.g5.xlarge, ml.p4d.24xlarge){hint}"
        )
    return instance_type


def validate_stopping(max_run: int, spot: bool, max_wait: int | None) -> dict[str, int]:
    if not 1 <= max_run <= MAX_RUN_LIMIT:
        raise LaunchError(
            f"hydra.launcher.max_run={max_run} must be between 1 and {MAX_RUN_LIMIT} seconds"
        )
    cond = {"MaxRuntimeInSeconds": int(max_run)}
    if spot:
        wait = max_run if max_wait is None else int(max_wait)
        if wait < max_run:
            raise LaunchError(
                f"hydra.launcher.max_wait={max_wait} is shorter than max_run={max_run}: "
                "managed spot training needs max_wait >= max_run (it includes the time "
                "spent waiting for spot capacity)"
            )
        cond["MaxWaitTimeInSeconds"] = wait
    elif max_wait is not None:
        raise LaunchError(
            f"hydra.launcher.max_wait={max_wait} is only used with spot training; "
            "set hydra.launcher.spot=true or leave max_wait unset"
        )
    return cond


def validate_metric_definitions(defs: list[dict[str, str]]) -> list[dict[str, str]]:
    if len(defs) > metric_log.MAX_DEFINITIONS:
        raise LaunchError(
            f"{len(defs)} metric definitions; SageMaker accepts {metric_log.MAX_DEFINITIONS}"
        )
    for d in defs:
        if len(d["Regex"]) > metric_log.MAX_REGEX_LENGTH:
            raise LaunchError(
                f"the regex for metric {d['Name']!r} has {len(d['Regex'])} characters; "
                f"SageMaker accepts {metric_log.MAX_REGEX_LENGTH}"
            )
        re.compile(d["Regex"])
    return defs


def _validate_s3(name: str, uri: str) -> str:
    try:
        split_s3_uri(uri)
    except ConfigError:
        raise LaunchError(f"{name}={uri!r} is not an s3://bucket/prefix URI") from None
    return uri


# --------------------------------------------------------------------------------------
# compute and distribution


def resolve_compute(
    cfg: Mapping[str, Any], opts: Mapping[str, Any], region: str
) -> tuple[str, int]:
    """Instance type/count from the launcher options, else from the hardware preset."""
    hw = cfg.get("hardware") or {}
    instance_type = validate_instance_type(opts.get("instance_type") or hw.get("instance_type"))
    count = opts.get("instance_count") or hw.get("nodes") or 1
    if int(count) < 1:
        raise LaunchError(f"hydra.launcher.instance_count={count} must be at least 1")
    nodes = int(hw.get("nodes", 1) or 1)
    if int(count) != nodes:
        # checked here, not after paying for the instances: both engines refuse a
        # cluster whose size differs from hardware.nodes
        raise LaunchError(
            f"hydra.launcher.instance_count={count} but hardware.nodes={nodes}: each "
            "instance is one node of the job; set hardware.nodes={count} (or drop "
            "instance_count to take hardware.nodes)".replace("{count}", str(count))
        )
    accelerator = str(hw.get("accelerator", "cpu"))
    gpus = gpu_count(instance_type, region)
    if accelerator == "gpu" and not is_gpu_instance(instance_type):
        raise LaunchError(
            f"hardware.accelerator=gpu but {instance_type} has no GPU; choose a GPU "
            "instance (ml.g*/ml.p*) or hardware.accelerator=cpu"
        )
    devices = int(hw.get("devices", 1) or 1)
    if accelerator == "gpu" and gpus is not None and devices > gpus:
        raise LaunchError(
            f"hardware.devices={devices} but {instance_type} has {gpus} GPU(s); "
            f"set hardware.devices<={gpus} or pick a larger instance"
        )
    return instance_type, int(count)


def distribution_hyperparameters(
    framework: str, parallelism: str, instance_count: int
) -> dict[str, Any]:
    """How the framework container starts processes, from ``trainer.parallelism``.

    The container's launcher flag comes from :data:`._images.CONTAINERS`: torch data/model
    parallel -> torchrun on every instance (one process per GPU; Lightning picks up the
    torchrun environment; FSDP2 sharding is the trainer's business). Keras data parallel
    over several instances -> the TensorFlow container's multi-worker mirrored strategy
    (``TF_CONFIG`` from SM_HOSTS; RunContext.tf_config); on one instance
    MirroredStrategy runs in a single process.
    """
    if parallelism == "single":
        if instance_count > 1:
            raise LaunchError(
                f"trainer.parallelism=single runs one process, but {instance_count} "
                "instances were requested; use trainer=data_parallel or instance_count=1"
            )
        return {}
    if parallelism not in ("data_parallel", "model_parallel"):
        raise LaunchError(
            f"trainer.parallelism={parallelism!r} is not known; expected single, "
            "data_parallel or model_parallel"
        )
    spec = container(framework)
    if (
        parallelism == "model_parallel"
        and instance_count > 1
        and not spec.model_parallel_across_instances
    ):
        raise LaunchError(
            f"{framework} model_parallel places stages on the devices of one instance; "
            f"{instance_count} instances were requested (use instance_count=1)"
        )
    if instance_count > 1 or spec.flag_on_one_instance:
        return {spec.launcher_flag: True}
    return {}


def metric_definitions(optimized_metric: str | None) -> list[dict[str, str]]:
    names = list(metric_log.STANDARD_METRICS)
    if optimized_metric and optimized_metric not in names:
        names.append(optimized_metric)
    return validate_metric_definitions(metric_log.metric_definitions(names))


# --------------------------------------------------------------------------------------
# the request


def _s3_channel(name: str, uri: str) -> dict[str, Any]:
    if not CHANNEL_RE.match(name):
        raise LaunchError(
            f"input channel name {name!r} is invalid: 1-64 characters of [A-Za-z0-9._-]"
        )
    _validate_s3(f"hydra.launcher.channels.{name}", uri)
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "InputMode": "File",
    }


def _tags(cfg: Mapping[str, Any], user: Mapping[str, str]) -> list[dict[str, str]]:
    tags = {
        "segtrain:task": str(cfg.get("task", "train")),
        "segtrain:model": str((cfg.get("model") or {}).get("name", "")),
        "segtrain:dataset": str((cfg.get("dataset") or {}).get("name", "")),
    }
    tags.update({str(k): str(v) for k, v in user.items()})
    out = []
    for key, value in tags.items():
        if not value:
            continue
        if not (
            1 <= len(key) <= 128 and len(value) <= 256 and TAG_RE.match(key) and TAG_RE.match(value)
        ):
            raise LaunchError(
                f"tag {key!r}={value!r} is invalid: keys 1-128 and values 0-256 characters "
                "of letters, digits, spaces and _.:/=+-@"
            )
        out.append({"Key": key, "Value": value})
    if len(out) > 50:
        raise LaunchError(f"{len(out)} tags; SageMaker accepts 50")
    return out


def build_request(cfg: Mapping[str, Any], opts: Mapping[str, Any], plan: JobPlan) -> dict[str, Any]:
    """The boto3 ``create_training_job`` keyword arguments for one composed job config.

    ``cfg`` is the job's composed config (plain mapping, ``hydra`` node optional);
    ``opts`` the launcher options (:class:`~.config.SageMakerLauncherConf` fields).
    """
    validate_job_name(plan.job_name)
    role = validate_role(opts.get("role"))
    instance_type, count = resolve_compute(cfg, opts, plan.region)
    spot = bool(opts.get("spot"))
    request: dict[str, Any] = {
        "TrainingJobName": plan.job_name,
        "RoleArn": role,
        "AlgorithmSpecification": {
            "TrainingImage": plan.image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions(cfg.get("optimized_metric")),
            "EnableSageMakerMetricsTimeSeries": True,
        },
        "HyperParameters": _hyperparameters(cfg, plan, count),
        "InputDataConfig": _channels(plan),
        **_output_and_resources(opts, plan, instance_type, count),
        "StoppingCondition": validate_stopping(
            int(opts.get("max_run") or DEFAULT_MAX_RUN), spot, opts.get("max_wait")
        ),
        "CheckpointConfig": {
            "S3Uri": _validate_s3("checkpoint", plan.checkpoint_uri),
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        },
        "EnableManagedSpotTraining": spot,
        "Environment": _environment(opts),
        "Tags": _tags(cfg, opts.get("tags") or {}),
        **_network(opts),
    }
    validate_request("CreateTrainingJob", request, hints=TRAINING_JOB_SETTINGS)
    return request


def _hyperparameters(cfg: Mapping[str, Any], plan: JobPlan, count: int) -> dict[str, str]:
    """The toolkit's contract (entry point, source tarball) plus distribution flags."""
    parallelism = str((cfg.get("trainer") or {}).get("parallelism", "single"))
    hyper: dict[str, Any] = {
        "sagemaker_program": ENTRY_POINT,
        "sagemaker_submit_directory": _validate_s3("code", plan.code_uri),
        "sagemaker_region": plan.region,
        # WARNING: at INFO the toolkit logs its whole environment (names and values of
        # every variable, secrets included) before the entry point starts
        "sagemaker_container_log_level": logging.WARNING,
        "sagemaker_job_name": plan.job_name,
    }
    hyper.update(distribution_hyperparameters(framework_of(cfg), parallelism, count))
    # the toolkit json-decodes every value, as the SageMaker SDK json-encodes them
    return {k: json.dumps(v) for k, v in hyper.items()}


def _channels(plan: JobPlan) -> list[dict[str, Any]]:
    channels = [_s3_channel(CONFIG_CHANNEL, plan.config_uri)]
    if plan.data_uri:
        channels.append(_s3_channel(DATA_CHANNEL, plan.data_uri))
    for name, uri in plan.extra_channels.items():
        if name in (CONFIG_CHANNEL, DATA_CHANNEL):
            raise LaunchError(
                f"hydra.launcher.channels.{name} clashes with the launcher's own "
                f"'{name}' channel; pick another name"
            )
        channels.append(_s3_channel(name, uri))
    return channels


def _output_and_resources(
    opts: Mapping[str, Any], plan: JobPlan, instance_type: str, count: int
) -> dict[str, Any]:
    """Where outputs go and what runs the job; one KMS key encrypts both."""
    resource: dict[str, Any] = {
        "InstanceType": instance_type,
        "InstanceCount": count,
        "VolumeSizeInGB": int(opts.get("volume_size_gb") or DEFAULT_VOLUME_GB),
    }
    output: dict[str, Any] = {"S3OutputPath": _validate_s3("output", plan.output_uri)}
    kms = opts.get("kms_key")
    if kms:
        output["KmsKeyId"] = kms
        resource["VolumeKmsKeyId"] = kms
    return {"OutputDataConfig": output, "ResourceConfig": resource}


def _environment(opts: Mapping[str, Any]) -> dict[str, str]:
    env = {"PYTHONUNBUFFERED": "1"}
    env.update({str(k): str(v) for k, v in (opts.get("environment") or {}).items()})
    return env


def _network(opts: Mapping[str, Any]) -> dict[str, Any]:
    """``VpcConfig`` (subnets and security groups go together) and network isolation."""
    out: dict[str, Any] = {}
    subnets = list(opts.get("subnets") or [])
    groups = list(opts.get("security_group_ids") or [])
    if subnets or groups:
        if not (subnets and groups):
            raise LaunchError(
                "a VPC needs both hydra.launcher.subnets and hydra.launcher.security_group_ids"
            )
        out["VpcConfig"] = {"Subnets": subnets, "SecurityGroupIds": groups}
    if opts.get("network_isolation"):
        out["EnableNetworkIsolation"] = True
    return out


def console_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{name}"
