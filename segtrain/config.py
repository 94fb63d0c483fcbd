"""Structured-config schemas, registered in Hydra's ConfigStore.

Every YAML file under ``configs/`` is merged onto one of these dataclasses, so a wrong
type (``model.lr=abc``) or an unknown key fails at compose time with a message naming
the key, instead of deep inside a training run. Each group has one schema; presets in
``configs/<group>/*.yaml`` only set values.

Keep every key defaulted here: a preset may set a subset, and the remaining keys must
still mean something.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class SplitConfig:
    """How records are divided into train/val/test without leaking a sequence."""

    # "group": whole sequences go to one split (falls back to per-frame, with a warning,
    # when there are too few groups); "frame": per-frame; "given": the layout's own
    # train/val/test folders (CamVid, folder datasets with split subfolders)
    by: str = "group"
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    # explicit group (sequence) names; when set they win over the fractions. Otherwise
    # the last groups in sorted order go to val (then test), like the original notebook
    val_groups: list[str] = field(default_factory=list)
    test_groups: list[str] = field(default_factory=list)
    # shuffles the per-frame split
    seed: int = 0


@dataclass
class CacheConfig:
    """Preprocessed shards (resized image + index mask) for fast epochs."""

    # build it during `segtrain data prepare`; open_split reads a matching cache whenever
    # one exists, enabled or not
    enabled: bool = False
    dir: str | None = None  # default: <dataset.root>/.segtrain_cache/<H>x<W>
    shard_size: int = 256  # samples per shard (two .npy files each)
    workers: int = 2  # processes decoding/encoding while the cache is built


@dataclass
class SynthConfig:
    """Procedural driving scenes written in the A2D2 on-disk layout."""

    num_sequences: int = 6
    frames_per_sequence: int = 30
    height: int = 192
    width: int = 288
    seed: int = 0


@dataclass
class DataBenchConfig:
    """The data benchmark: label encoding and cache-vs-raw epochs on real A2D2 frames."""

    # A2D2 root with real frames; null: ../shared/data/a2d2-sample beside the repository
    root: str | None = None
    # training resolution the raw/cache epochs are measured at (the notebook's 604x960)
    image_size: list[int] = field(default_factory=lambda: [604, 960])
    # repetitions of each measurement (the best is kept)
    repeats: int = 3
    # scratch directory for the cache and manifest; null: a temporary directory
    work_dir: str | None = None
    output_dir: str = "bench_results"


@dataclass
class DatasetConfig:
    name: str = "synthetic"
    # on-disk format: synthetic | a2d2 | camvid | camvid_segnet | folder
    format: str = "synthetic"
    root: str = "data/synthetic"
    # training resolution [height, width]; samples are resized to it before augmentation
    image_size: list[int] = field(default_factory=lambda: [192, 288])
    ignore_index: int = 255
    # A2D2 cameras to use (front_center, front_left, front_right, side_left, side_right,
    # rear_center)
    cameras: list[str] = field(default_factory=lambda: ["front_center"])
    # class merges: a preset name (e.g. "a2d2_38") or null
    class_merges: str | None = None
    # colours not in the class list: "ignore" (mapped to ignore_index, counted) or "error"
    unknown_colors: str = "ignore"
    # bad samples (corrupt PNG, missing label, size mismatch): "error" or "skip" (counted)
    on_error: str = "error"
    # path of a class list file when the format needs one (folder datasets)
    class_list: str | None = None
    # manifest path; default: <root>/manifest.jsonl
    manifest: str | None = None
    # cap on samples per split (quick runs); null = all
    num_samples: int | None = None
    num_workers: int = 2
    split: SplitConfig = field(default_factory=SplitConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)


@dataclass
class ModelConfig:
    name: str = "deeplabv3"
    # which engine trains it: "torch" (Lightning) or "keras" (TensorFlow)
    framework: str = "torch"
    # deeplabv3: mobilenet_v3_large | resnet50 | resnet101
    backbone: str = "mobilenet_v3_large"
    # null: taken from the dataset's class map
    num_classes: int | None = None
    # local path or URI of full-model weights (state_dict / .keras); never downloaded
    pretrained_weights: str | None = None
    # local path or URI of ImageNet backbone weights (torchvision state_dict)
    pretrained_backbone: str | None = None
    aux_loss: bool = False
    # keep BatchNorm statistics fixed while training (fine-tuning with small per-device
    # batches, and exact data-parallel equivalence)
    freeze_bn: bool = False
    # BatchNorm running-statistics momentum (torch convention); null keeps the
    # architecture's own (torchvision's MobileNetV3 uses 0.01)
    bn_momentum: float | None = None
    # optimisation
    optimizer: str = "adamw"  # sgd | adamw | adam
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    scheduler: str = "poly"  # poly | warmup_poly | cosine | none
    warmup_epochs: float = 0.0
    poly_power: float = 0.9
    # class weighting of the loss: none | enet (1/ln(c+p), c=1.02) | inverse
    class_weighting: str = "none"
    enet_weight_c: float = 1.02
    # ENet-specific regularisation (spatial dropout in stage 1 and afterwards)
    dropout_stage1: float = 0.01
    dropout: float = 0.1
    # precision used instead of hardware.precision when hardware.accelerator=cpu
    # (null: hardware.precision). ENet sets "32": Keras' bf16 is slower on CPU.
    cpu_precision: str | None = None


@dataclass
class TrainerConfig:
    name: str = "single"
    # single | data_parallel | model_parallel
    parallelism: str = "single"
    max_epochs: int = 10
    batch_size: int = 8  # per device
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = None
    # a float is a fraction of the batches per epoch (1.0 = all), an int a number of
    # batches (1 = one batch); null = all. Typed Any: OmegaConf has no int|float union.
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    check_val_every_n_epoch: int = 1
    log_every_n_steps: int = 10
    sync_batchnorm: bool = False
    # scale model.lr with the global batch: none | linear | sqrt
    lr_scaling: str = "none"
    lr_scaling_base_batch: int = 8
    # torch process-group backend: auto (nccl on GPU, gloo on CPU) | gloo | nccl | smddp
    backend: str = "auto"
    # model_parallel: how the model is split (torch: fsdp2; keras: stage->device map)
    sharding: str = "fsdp2"
    stage_devices: list[str] = field(default_factory=list)  # keras: stage -> device
    deterministic: bool = False


@dataclass
class HardwareConfig:
    name: str = "cpu"
    accelerator: str = "cpu"  # cpu | gpu | auto
    devices: int = 1  # per node
    nodes: int = 1
    precision: str = "32"  # 32 | bf16-mixed | 16-mixed | auto (runtime/precision.py)
    channels_last: bool = False
    compile: bool = False
    num_threads: int | None = None
    # SageMaker instance this preset describes (null for local hardware)
    instance_type: str | None = None


@dataclass
class AugmentConfig:
    name: str = "default"
    hflip: float = 0.5
    scale_min: float = 1.0
    scale_max: float = 1.0
    rotate_limit: float = 0.0
    brightness_contrast: float = 0.0
    hue_saturation: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])


@dataclass
class LoggerConfig:
    name: str = "default"
    console: bool = True
    csv: bool = True
    tensorboard: bool = True
    # progress bars: auto (on a TTY only) | true | false
    progress_bar: str = "auto"


@dataclass
class PathsConfig:
    data_dir: str = "data"
    output_dir: str = "${hydra:runtime.output_dir}"
    checkpoint_dir: str = "${paths.output_dir}/checkpoints"
    model_dir: str = "${paths.output_dir}/model"
    log_dir: str = "${paths.output_dir}/logs"


@dataclass
class TrainConfig:
    task: str = "train"
    seed: int = 42
    # metric returned to sweepers (a key of the validation metrics)
    optimized_metric: str = "val_mIoU"
    # resume from the latest checkpoint in paths.checkpoint_dir when there is one
    resume: bool = True
    dataset: DatasetConfig = MISSING
    model: ModelConfig = MISSING
    trainer: TrainerConfig = MISSING
    hardware: HardwareConfig = MISSING
    augment: AugmentConfig = MISSING
    logger: LoggerConfig = MISSING
    paths: PathsConfig = MISSING
    experiment: Any = None


@dataclass
class EvaluateConfig:
    task: str = "evaluate"
    # model directory, final model file or training checkpoint
    checkpoint: str = MISSING
    split: str = "val"
    batch_size: int = 8
    dataset: DatasetConfig = MISSING
    hardware: HardwareConfig = MISSING
    augment: AugmentConfig = MISSING
    logger: LoggerConfig = MISSING
    paths: PathsConfig = MISSING


@dataclass
class PredictConfig:
    task: str = "predict"
    checkpoint: str = MISSING
    # image file or directory of images; null: the dataset's val split
    input: str | None = None
    # where overlays go; default <output_dir>/predictions
    output: str | None = None
    limit: int | None = None
    overlay_alpha: float = 0.5
    dataset: DatasetConfig = MISSING
    hardware: HardwareConfig = MISSING
    augment: AugmentConfig = MISSING
    logger: LoggerConfig = MISSING
    paths: PathsConfig = MISSING


@dataclass
class DataCommandConfig:
    """Schema of the `segtrain data <subcommand>` apps (synth, prepare, inspect, ...)."""

    task: str = "data"
    dataset: DatasetConfig = MISSING
    paths: PathsConfig = MISSING
    logger: LoggerConfig = MISSING
    # upload/download: local directory and s3:// URI
    src: str | None = None
    dst: str | None = None
    # inspect: how many sample images in the grid
    samples: int = 8
    output: str | None = None
    # synth/prepare: rebuild even when the existing output matches the settings
    force: bool = False
    # `segtrain data bench`
    data_bench: DataBenchConfig = field(default_factory=DataBenchConfig)


GROUP_SCHEMAS: dict[str, type] = {
    "dataset": DatasetConfig,
    "model": ModelConfig,
    "trainer": TrainerConfig,
    "hardware": HardwareConfig,
    "augment": AugmentConfig,
    "logger": LoggerConfig,
    "paths": PathsConfig,
}

PRIMARY_SCHEMAS: dict[str, type] = {
    "train_schema": TrainConfig,
    "evaluate_schema": EvaluateConfig,
    "predict_schema": PredictConfig,
    "data_schema": DataCommandConfig,
}


def register_configs() -> None:
    """Register every schema; group files start with ``defaults: [/schema/<group>@_here_]``."""
    cs = ConfigStore.instance()
    for name, schema in PRIMARY_SCHEMAS.items():
        cs.store(name=name, node=schema)
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group="schema", name=group, node=schema)


@dataclass
class BenchConfig:
    """`segtrain bench`: speed figures as ratios measured in one run, written to a file."""

    task: str = "bench"
    # which suites: data (label encoding, cache vs raw loading), train_step (DeepLabV3),
    # scaling (1 vs N data-parallel processes)
    suites: list[str] = field(default_factory=lambda: ["data", "train_step", "scaling"])
    output_dir: str = "bench_results"
    steps: int = 5
    warmup: int = 2
    batch_size: int = 4
    image_size: list[int] = field(default_factory=lambda: [256, 384])
    backbones: list[str] = field(default_factory=lambda: ["mobilenet_v3_large"])
    # scaling suite: real `segtrain train` runs with 1 vs N data-parallel processes
    scaling_models: list[str] = field(default_factory=lambda: ["deeplabv3", "enet"])
    scaling_devices: list[int] = field(default_factory=lambda: [1, 2])
    scaling_samples: int = 64
    scaling_epochs: int = 2
    # extra `segtrain train` overrides for every scaling run (e.g. dataset.image_size=...)
    scaling_overrides: list[str] = field(default_factory=list)
    data_bench: DataBenchConfig = field(default_factory=DataBenchConfig)
    dataset: DatasetConfig = MISSING
    paths: PathsConfig = MISSING
    logger: LoggerConfig = MISSING


PRIMARY_SCHEMAS["bench_schema"] = BenchConfig
