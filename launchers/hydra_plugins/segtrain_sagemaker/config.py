"""Launcher options, registered under ``hydra/launcher`` as ``sagemaker`` and ``sagemaker_local``.

Everything a SageMaker training job needs that is *not* part of the training config lives
here: account (role, region, bucket), compute overrides, spot, networking, encryption,
tags and whether to wait. The training config (dataset, model, trainer, hardware) stays
the single source of what runs; instance type and count default to the ``hardware``
preset (``hardware=ml_p4d_24xlarge``), so a user adds one override to go remote.

This module is imported by Hydra's plugin scan, so it imports nothing heavy. No
``from __future__ import annotations`` here: the scan executes the module before it is in
``sys.modules``, where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

#: default S3 key prefix under the bucket; one sub-prefix per job below it
DEFAULT_PREFIX = "segtrain"


@dataclass
class SageMakerLauncherConf:
    """``hydra/launcher=sagemaker``: submit each job as a SageMaker training job."""

    _target_: str = "hydra_plugins.segtrain_sagemaker.launcher.SageMakerLauncher"

    # account -----------------------------------------------------------------------------
    # IAM role SageMaker assumes (arn:aws:iam::<account>:role/<name>)
    role: str | None = "${oc.env:SEGTRAIN_SAGEMAKER_ROLE,null}"
    # null: the boto3 default (AWS_REGION / AWS_DEFAULT_REGION / ~/.aws/config)
    region: str | None = None
    # bucket for the job's code, config, outputs and checkpoints
    bucket: str | None = "${oc.env:SEGTRAIN_SAGEMAKER_BUCKET,null}"
    # key prefix: s3://<bucket>/<prefix>/<job name>/{input,output,checkpoints}
    prefix: str = DEFAULT_PREFIX

    # compute (null: from the hardware preset) --------------------------------------------
    instance_type: str | None = None
    instance_count: int | None = None
    volume_size_gb: int = 50
    # container image; null: the AWS Deep Learning Container for model.framework
    image_uri: str | None = None
    # DLC framework version; null: the newest the installed SDK knows
    framework_version: str | None = None

    # time and cost -----------------------------------------------------------------------
    max_run: int = 86400  # seconds of training before SageMaker stops the job
    spot: bool = False  # managed spot training (resumes from checkpoints)
    max_wait: int | None = None  # spot: seconds incl. waiting for capacity (>= max_run)

    # data --------------------------------------------------------------------------------
    # extra input channels: name -> s3:// URI (available at /opt/ml/input/data/<name>)
    channels: dict[str, str] = field(default_factory=dict)
    # when dataset.root is a local directory: upload it to s3://<bucket>/<prefix>/data/<name>/
    upload_data: bool = False
    # checkpoint URI to resume an earlier job (one job only); null: unique per job
    checkpoint_s3_uri: str | None = None

    # network and security ----------------------------------------------------------------
    subnets: list[str] = field(default_factory=list)
    security_group_ids: list[str] = field(default_factory=list)
    kms_key: str | None = None  # encrypts outputs, checkpoints uploads and volumes
    network_isolation: bool = False

    # bookkeeping -------------------------------------------------------------------------
    tags: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    job_name_prefix: str = DEFAULT_PREFIX

    # behaviour ---------------------------------------------------------------------------
    # wait for every job and return its objective; false: print names/links and return
    wait: bool = True
    logs: bool = True  # stream CloudWatch logs while waiting
    poll_seconds: float = 30.0
    # build, validate and write the requests beside each job; submit nothing
    dry_run: bool = False


@dataclass
class SageMakerLocalLauncherConf(SageMakerLauncherConf):
    """``hydra/launcher=sagemaker_local``: the same job spec, run here without Docker.

    The request is built, validated and its inputs uploaded exactly as for SageMaker;
    then the container's ``/opt/ml`` tree is materialised under ``base_dir`` and the
    job runs through the ``sagemaker-training`` toolkit, like a framework container.
    """

    _target_: str = "hydra_plugins.segtrain_sagemaker.launcher.SageMakerLocalLauncher"
    # a role is not assumed locally; any well-formed ARN is accepted
    role: str | None = "${oc.env:SEGTRAIN_SAGEMAKER_ROLE,arn:aws:iam::000000000000:role/local}"
    # where the /opt/ml trees go; null: <job output dir>/sagemaker
    base_dir: str | None = None
    # seconds before the local job is stopped (SIGTERM, as SageMaker does); null: max_run
    timeout: int | None = None


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(
        group="hydra/launcher", name="sagemaker", node=SageMakerLauncherConf, provider="segtrain"
    )
    cs.store(
        group="hydra/launcher",
        name="sagemaker_local",
        node=SageMakerLocalLauncherConf,
        provider="segtrain",
    )


register()
