"""Structured-config schemas, registered in Hydra's ConfigStore, and their value rules.

Every YAML file under ``configs/`` is merged onto one of these dataclasses, so a wrong
type (``model.lr=abc``) fails at compose time with a message naming the key, instead of
deep inside a training run. Each group has one schema; presets in
``configs/<group>/*.yaml`` only set what differs from it.

This is THE place every default lives: a preset may set a subset, and the remaining keys
still mean something. What a value may be beyond its type (a range, a list of choices) is
written next to the field (:func:`one_of`, :func:`number`, :func:`each`) and checked by
:func:`check_config`, which the CLI runs right after composing, before anything is written:
no key or value is silently ignored.

Each field's docstring (the string right below it) is its one-line description in
``segtrain <command> --help`` (:mod:`segtrain.help`); a field without one shows none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from segtrain.errors import ConfigError

RULE = "segtrain_rule"


@dataclass(frozen=True)
class Rule:
    """What a field accepts beyond its type; for a list field, what each item accepts."""

    choices: tuple[str, ...] = ()
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    length: int | None = None
    """lists: exactly this many items"""
    test: Callable[[Any], bool] | None = None
    """a custom test and the words for what it expects (e.g. "a count or a fraction")"""
    expected: str = ""
    fold_case: bool = False
    """compare choices lower-cased (``progress_bar=False``)"""

    def problem(self, value: Any) -> str | None:
        """What was expected, or None when ``value`` (not null) is acceptable."""
        if isinstance(value, list | tuple):
            if self.length is not None and len(value) != self.length:
                return f"expected {self.length} values"
            found = (self.problem_of_one(v) for v in value)
            return next((p for p in found if p is not None), None)
        return self.problem_of_one(value)

    def problem_of_one(self, value: Any) -> str | None:
        if self.test is not None:
            return None if self.test(value) else f"expected {self.expected}"
        if self.choices:
            text = str(value).lower() if self.fold_case else str(value)
            return None if text in self.choices else f"expected one of {', '.join(self.choices)}"
        bounds = [
            (">=", self.ge, lambda v, b: v >= b),
            (">", self.gt, lambda v, b: v > b),
            ("<=", self.le, lambda v, b: v <= b),
            ("<", self.lt, lambda v, b: v < b),
        ]
        failed = [(op, b) for op, b, ok in bounds if b is not None and not ok(value, b)]
        if not failed:
            return None
        words = " and ".join(f"{op} {b:g}" for op, b, _ in bounds if b is not None)
        return f"expected a value {words}"


def one_of(default: str | None, choices: Sequence[str], *, fold_case: bool = False) -> Any:
    """A string field that must be one of ``choices`` (null allowed when the default is)."""
    return field(default=default, metadata={RULE: Rule(tuple(choices), fold_case=fold_case)})


def number(default: float | int | None, **bounds: float) -> Any:
    """A number within ``bounds`` (``ge``/``gt``/``le``/``lt``); null allowed if typed so."""
    return field(default=default, metadata={RULE: Rule(**bounds)})


def each(**rule: Any) -> dict[str, Rule]:
    """``field(metadata=...)`` of a list whose items each follow ``rule`` (``choices``,
    bounds) and whose ``length`` is fixed when given."""
    if "choices" in rule:
        rule["choices"] = tuple(rule["choices"])
    return {RULE: Rule(**rule)}


def _count_or_fraction(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, float) and 0.0 <= value <= 1.0


#: what exists; tests check these against the registries they name
MODEL_FRAMEWORKS = {"deeplabv3": "torch", "enet": "keras"}  # engines/base.ENGINE_MODULES
BACKBONES = {  # models/deeplabv3.BUILDERS; ENet has none
    "deeplabv3": ("mobilenet_v3_large", "resnet50", "resnet101"),
    "enet": ("none",),
}
DATASET_FORMATS = ("synthetic", "a2d2", "camvid", "camvid_segnet", "folder")  # data.formats
A2D2_CAMERAS = (  # data/formats/a2d2.CAMERAS
    "front_center",
    "front_left",
    "front_right",
    "side_left",
    "side_right",
    "rear_center",
)
PRECISIONS = ("auto", "32", "32-true", "16-mixed", "bf16-mixed")  # runtime/precision.py
PARALLELISMS = ("single", "data_parallel", "model_parallel")
BENCH_SUITES = ("data", "train_step", "scaling", "download")  # segtrain/bench.SUITES
FRACTION = {"ge": 0.0, "le": 1.0}


@dataclass
class SplitConfig:
    """How records are divided into train/val/test without leaking a sequence."""

    by: str = one_of("group", ("group", "frame", "given"))
    """group: whole sequences go to one split (falls back to per-frame, with a warning, when
    there are too few groups); frame: per-frame; given: the layout's own train/val/test folders
    (CamVid, folder datasets with split subfolders)"""
    val_fraction: float = number(0.2, **FRACTION)
    """share of the groups (or frames) that go to val"""
    test_fraction: float = number(0.0, **FRACTION)
    """share of the groups (or frames) that go to test"""
    val_groups: list[str] = field(default_factory=list)
    """explicit group (sequence) names; when set they win over the fractions. Otherwise the last
    groups in sorted order go to val (then test), like the original notebook"""
    test_groups: list[str] = field(default_factory=list)
    """explicit group (sequence) names for test; when set they win over test_fraction"""
    seed: int = 0
    """shuffles the per-frame split"""


@dataclass
class CacheConfig:
    """Preprocessed shards (resized image + index mask) for fast epochs."""

    enabled: bool = False
    """build it during `segtrain data prepare`; open_split reads a matching cache whenever one
    exists, enabled or not"""
    dir: str | None = None
    """default: <dataset.root>/.segtrain_cache/<H>x<W>"""
    shard_size: int = number(256, ge=1)
    """samples per shard (two .npy files each)"""
    workers: int = number(2, ge=0)
    """processes decoding/encoding while the cache is built"""


@dataclass
class SynthConfig:
    """Procedural driving scenes written in the A2D2 on-disk layout."""

    num_sequences: int = number(6, ge=1)
    """sequences (drives) to generate; each is one split group"""
    frames_per_sequence: int = number(30, ge=1)
    """frames per sequence"""
    height: int = number(192, ge=1)
    """frame height in pixels"""
    width: int = number(288, ge=1)
    """frame width in pixels"""
    seed: int = 0
    """random seed of the scenes (same seed, same frames)"""


@dataclass
class DataBenchConfig:
    """The data benchmark: label encoding and cache-vs-raw epochs on real A2D2 frames."""

    root: str | None = None
    """A2D2 root with real frames; null: ../shared/data/a2d2-sample beside the repository"""
    image_size: list[int] = field(default_factory=lambda: [604, 960], metadata=each(length=2, ge=1))
    """training resolution the raw/cache epochs are measured at (the notebook's 604x960)"""
    repeats: int = number(3, ge=1)
    """repetitions of each measurement (the best is kept)"""
    work_dir: str | None = None
    """scratch directory for the cache and manifest; null: a temporary directory"""
    output_dir: str = "bench_results"
    """where the results file is written"""


@dataclass
class DownloadConfig:
    """`segtrain data download dataset=a2d2 dst=...`: where the public A2D2 data is read."""

    source: str = one_of("archive", ("archive", "mirror"))
    """archive: stream camera_lidar_semantic.tar and extract the selection on the fly; mirror:
    copy the selection from an already-extracted tree (one object per file)"""
    bucket: str = "aev-autonomous-driving-dataset"
    """the public A2D2 bucket (AWS Open Data Registry)"""
    key: str = "camera_lidar_semantic.tar"
    """the archive, or for a mirror the prefix that holds camera_lidar_semantic/"""
    region: str = "eu-central-1"
    """AWS region of the bucket"""
    requester_pays: bool = False
    """send the requester-pays header (a bucket that bills the reader)"""
    unsigned: bool = True
    """unsigned (anonymous) requests, as the public bucket allows; false: use credentials"""
    include: list[str] = field(
        default_factory=lambda: ["camera", "label"],
        metadata=each(choices=("camera", "label", "lidar")),
    )
    """A2D2 folders per camera to keep: camera (png + json), label, lidar (npz)"""
    sequences: list[str] = field(default_factory=list)
    """sequences (YYYYMMDD_hhmmss) to keep; empty: all"""
    checksums: str | None = None
    """lines of <md5 or sha256> <member path> (local path or s3:// URI); null: sizes only"""
    chunk_size: int = number(8 << 20, ge=512)
    """bytes per range request"""
    parallel: int = number(8, ge=1)
    """range requests in flight"""
    readahead: int = number(16 << 20, ge=0)
    """bytes read ahead past the known need"""
    read_through: int = number(1 << 20, ge=0)
    """the largest gap (bytes) read through instead of jumping with a new request"""
    buffer_size: int = number(64 << 20, ge=5 << 20)
    """s3:// destinations: bytes of a member held before they go out as one part (>= 5 MiB, S3's
    smallest part); memory stays within this plus the range window"""
    state_every_s: float = number(5.0, ge=0)
    """seconds between two saves of the progress state (resume point)"""
    prepare: bool = True
    """build the manifest (as `segtrain data prepare`) when the destination is local"""


@dataclass
class DatasetConfig:
    name: str = "synthetic"
    """the preset's name (dataset=<name>), shown in logs"""
    format: str = one_of("synthetic", DATASET_FORMATS)
    """on-disk format"""
    root: str = "data/synthetic"
    """dataset directory (local path)"""
    image_size: list[int] = field(default_factory=lambda: [192, 288], metadata=each(length=2, ge=1))
    """training resolution [height, width]; samples are resized to it before augmentation"""
    ignore_index: int = number(255, ge=0, le=255)
    """label masks are 8-bit: the ignore index is one of their values"""
    cameras: list[str] = field(
        default_factory=lambda: ["front_center"], metadata=each(choices=A2D2_CAMERAS)
    )
    """A2D2 cameras to use"""
    class_merges: str | None = None
    """class merges: a preset name (e.g. "a2d2_38") or null"""
    unknown_colors: str = one_of("ignore", ("ignore", "error"))
    """colours not in the class list: "ignore" (mapped to ignore_index, counted) or "error"
    (refused)"""
    on_error: str = one_of("error", ("error", "skip"))
    """bad samples (corrupt PNG, missing label, size mismatch): "error" or "skip" (counted)"""
    class_list: str | None = None
    """path of a class list file when the format needs one (folder datasets)"""
    manifest: str | None = None
    """manifest path; default: <root>/manifest.jsonl"""
    num_samples: int | None = number(None, ge=1)
    """cap on samples per split (quick runs); null = all"""
    num_workers: int = number(2, ge=0)
    """data-loading worker processes per device (0: in the training process)"""
    split: SplitConfig = field(default_factory=SplitConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    download: DownloadConfig = field(default_factory=DownloadConfig)


@dataclass
class ModelConfig:
    name: str = one_of("deeplabv3", tuple(MODEL_FRAMEWORKS))
    """the architecture; its engine and backbones: MODEL_FRAMEWORKS, BACKBONES"""
    framework: str = one_of("torch", ("torch", "keras"))
    """which engine trains it: "torch" (Lightning) or "keras" (TensorFlow)"""
    backbone: str = "mobilenet_v3_large"
    """deeplabv3: mobilenet_v3_large | resnet50 | resnet101 (checked per model.name)"""
    num_classes: int | None = number(None, ge=2)
    """null: taken from the dataset's class map"""
    pretrained_weights: str | None = None
    """local path or URI of full-model weights (state_dict / .keras); never downloaded"""
    pretrained_backbone: str | None = None
    """local path or URI of ImageNet backbone weights (torchvision state_dict)"""
    aux_loss: bool = False
    """deeplabv3: train the auxiliary FCN head too (its loss weighted 0.4)"""
    freeze_bn: bool = False
    """keep BatchNorm statistics fixed while training (fine-tuning with small per-device batches,
    and exact data-parallel equivalence)"""
    bn_momentum: float | None = number(None, gt=0.0, le=1.0)
    """BatchNorm running-statistics momentum (torch convention); null keeps the architecture's
    own (torchvision's MobileNetV3 uses 0.01)"""
    optimizer: str = one_of("adamw", ("sgd", "adamw", "adam"))
    """the optimiser"""
    lr: float = number(1e-3, gt=0.0)
    """base learning rate (scaled with the global batch by trainer.lr_scaling)"""
    weight_decay: float = number(1e-4, ge=0.0)
    """weight decay (decoupled for adamw)"""
    momentum: float = number(0.9, ge=0.0, lt=1.0)
    """sgd momentum"""
    scheduler: str = one_of("poly", ("poly", "warmup_poly", "cosine", "none"))
    """learning-rate schedule over the run"""
    warmup_epochs: float = number(0.0, ge=0.0)
    """warmup_poly: epochs of linear warmup (fractions allowed)"""
    poly_power: float = number(0.9, ge=0.0)
    """poly / warmup_poly: the exponent of the decay"""
    class_weighting: str = one_of("none", ("none", "enet", "inverse"))
    """class weighting of the loss: none | enet (1/ln(c+p), c=1.02) | inverse"""
    enet_weight_c: float = number(1.02, gt=1.0)
    """class_weighting=enet: the c in 1/ln(c+p)"""
    dropout_stage1: float = number(0.01, ge=0.0, lt=1.0)
    """ENet: spatial dropout rate in stage 1"""
    dropout: float = number(0.1, ge=0.0, lt=1.0)
    """ENet: spatial dropout rate after stage 1"""
    cpu_precision: str | None = one_of(None, PRECISIONS)
    """precision used instead of hardware.precision when hardware.accelerator=cpu (null:
    hardware.precision). ENet sets "32": Keras' bf16 is slower on CPU."""


#: a float is a fraction of the batches per epoch (1.0 = all), an int a number of
#: batches (1 = one batch); null = all. Typed Any: OmegaConf has no int|float union.
_BATCH_LIMIT = Rule(test=_count_or_fraction, expected="a batch count >= 0 or a fraction in [0, 1]")


@dataclass
class TrainerConfig:
    name: str = "single"
    """the preset's name (trainer=<name>), shown in logs"""
    parallelism: str = one_of("single", PARALLELISMS)
    """how the work is split over devices"""
    max_epochs: int = number(10, ge=1)
    """epochs to train (a resumed run counts the ones already done)"""
    batch_size: int = number(8, ge=1)
    """per device"""
    accumulate_grad_batches: int = number(1, ge=1)
    """batches whose gradients are summed before each optimiser step"""
    gradient_clip_val: float | None = number(None, gt=0.0)
    """clip the gradient norm to this value; null: no clipping"""
    limit_train_batches: Any = field(default=None, metadata={RULE: _BATCH_LIMIT})
    """train batches per epoch: a count, a fraction of the epoch, or null (all)"""
    limit_val_batches: Any = field(default=None, metadata={RULE: _BATCH_LIMIT})
    """val batches per validation: a count, a fraction, or null (all)"""
    check_val_every_n_epoch: int = number(1, ge=1)
    """validate every N epochs"""
    log_every_n_steps: int = number(10, ge=1)
    """steps between two logged training losses"""
    sync_batchnorm: bool = False
    """data_parallel: BatchNorm statistics computed over all devices"""
    lr_scaling: str = one_of("none", ("none", "linear", "sqrt"))
    """scale model.lr with the global batch"""
    lr_scaling_base_batch: int = number(8, ge=1)
    """the global batch at which model.lr applies unscaled"""
    backend: str = one_of("auto", ("auto", "gloo", "nccl", "smddp"))
    """torch process-group backend: auto (nccl on GPU, gloo on CPU) | gloo | nccl | smddp"""
    sharding: str = one_of("fsdp2", ("fsdp2",))
    """model_parallel: how the model is split (torch: fsdp2; keras: stage->device map)"""
    stage_devices: list[str] = field(default_factory=list)
    """keras: stage -> device"""
    deterministic: bool = False
    """deterministic algorithms only (reproducible, slower)"""


@dataclass
class HardwareConfig:
    name: str = "cpu"
    """the preset's name (hardware=<name>), shown in logs"""
    accelerator: str = one_of("cpu", ("cpu", "gpu", "auto"))
    """where the model runs (auto: a GPU when there is one)"""
    devices: int = number(1, ge=1)
    """per node"""
    nodes: int = number(1, ge=1)
    """machines (SageMaker: instance count)"""
    precision: str = one_of("32", PRECISIONS)
    """auto: the fastest precision this machine computes natively (runtime/precision.py)"""
    channels_last: bool = False
    """torch: channels-last memory format (faster convolutions with bf16/fp16)"""
    compile: bool = False
    """torch: torch.compile the model (slow first step)"""
    num_threads: int | None = number(None, ge=1)
    """CPU threads for the framework's kernels; null: the framework's default"""
    instance_type: str | None = None
    """SageMaker instance this preset describes (null for local hardware)"""


@dataclass
class AugmentConfig:
    name: str = "default"
    """the preset's name (augment=<name>), shown in logs"""
    hflip: float = number(0.5, **FRACTION)
    """probability"""
    scale_min: float = number(1.0, gt=0.0)
    """smallest random rescale factor (1.0 with scale_max 1.0: none)"""
    scale_max: float = number(1.0, gt=0.0)
    """largest random rescale factor"""
    rotate_limit: float = number(0.0, ge=0.0, le=180.0)
    """degrees"""
    brightness_contrast: float = number(0.0, **FRACTION)
    """max relative change"""
    hue_saturation: float = number(0.0, **FRACTION)
    """strength"""
    blur: float = number(0.0, **FRACTION)
    """probability"""
    noise: float = number(0.0, **FRACTION)
    """probability"""
    mean: list[float] = field(
        default_factory=lambda: [0.485, 0.456, 0.406], metadata=each(length=3)
    )
    """per-channel mean (RGB, 0-1) subtracted when normalising"""
    std: list[float] = field(
        default_factory=lambda: [0.229, 0.224, 0.225], metadata=each(length=3, gt=0.0)
    )
    """per-channel standard deviation (RGB, 0-1) divided by when normalising"""


@dataclass
class LoggerConfig:
    name: str = "default"
    """the preset's name (logger=<name>), shown in logs"""
    console: bool = True
    """metric lines on the console"""
    csv: bool = True
    """per-epoch metrics in a CSV file under paths.log_dir"""
    tensorboard: bool = True
    """TensorBoard event files under paths.log_dir"""
    progress_bar: str = one_of("auto", ("auto", "true", "false"), fold_case=True)
    """progress bars: auto (on a TTY only) | true | false"""


@dataclass
class PathsConfig:
    data_dir: str = "data"
    """base directory of the datasets' default roots"""
    output_dir: str = "${hydra:runtime.output_dir}"
    """this run's directory (Hydra's run dir by default)"""
    checkpoint_dir: str = "${paths.output_dir}/checkpoints"
    """training checkpoints (resumed from when resume=true)"""
    model_dir: str = "${paths.output_dir}/model"
    """the final exported model"""
    log_dir: str = "${paths.output_dir}/logs"
    """CSV and TensorBoard logs"""


@dataclass
class CommandConfig:
    """What every command's config holds: its name and the data-side groups."""

    task: str = MISSING
    verbose: bool = False
    """show the libraries' start-up lines and advisory warnings (TensorFlow, oneDNN, Lightning
    tips); hydra.verbose does too. Environments are never printed"""
    dataset: DatasetConfig = MISSING
    logger: LoggerConfig = MISSING
    paths: PathsConfig = MISSING


@dataclass
class ModelCommandConfig(CommandConfig):
    """Commands that run a model (train, evaluate, predict): hardware and augment too."""

    hardware: HardwareConfig = MISSING
    augment: AugmentConfig = MISSING


@dataclass
class TrainConfig(ModelCommandConfig):
    task: str = "train"
    seed: int = 42
    """random seed (weights, data order, augmentation)"""
    optimized_metric: str = "val_mIoU"
    """metric returned to sweepers (a key of the validation metrics)"""
    resume: bool = True
    """resume from the latest checkpoint in paths.checkpoint_dir when there is one"""
    report: bool = True
    """write <output_dir>/report.html (segtrain report) when the run ends"""
    model: ModelConfig = MISSING
    trainer: TrainerConfig = MISSING
    experiment: Any = None
    """the experiment recipe chosen (experiment=<name>); set by the group"""


@dataclass
class EvaluateConfig(ModelCommandConfig):
    task: str = "evaluate"
    checkpoint: str = MISSING
    """model directory, final model file or training checkpoint"""
    split: str = one_of("val", ("train", "val", "test"))
    """the dataset split scored"""
    batch_size: int = number(8, ge=1)
    """images per inference batch"""
    plots: bool = True
    """confusion-matrix heatmap and per-class IoU bars (PNG) beside metrics.json"""
    confusion_log: bool = False
    """the heatmap's colours on a log scale (small confusions stay visible)"""
    compare: str | None = None
    """another checkpoint (or the metrics.json of one) to compare with, class by class"""


@dataclass
class ReportConfig(ModelCommandConfig):
    """`segtrain report run=<run dir | sweep dir>`: one self-contained HTML page."""

    task: str = "report"
    run: str = MISSING
    """a training run's output directory, or a sweep's (multirun) directory"""
    output: str | None = None
    """the HTML file; null: <run>/report.html (a sweep: <run>/sweep_report.html)"""
    evaluate: bool = True
    """score the best checkpoint now (per-class table, confusion matrix, overlays)"""
    split: str = one_of("val", ("train", "val", "test"))
    batch_size: int = number(8, ge=1)
    overlays: int = number(4, ge=0)
    """validation images shown with their prediction overlays"""
    overlay_alpha: float = number(0.5, **FRACTION)
    confusion_log: bool = False


@dataclass
class PredictConfig(ModelCommandConfig):
    task: str = "predict"
    checkpoint: str = MISSING
    """model directory, final model file or training checkpoint"""
    input: str | None = None
    """image file or directory of images; null: the dataset's val split"""
    output: str | None = None
    """where overlays go; default <output_dir>/predictions"""
    limit: int | None = number(None, ge=1)
    """predict at most this many images; null: all"""
    overlay_alpha: float = number(0.5, **FRACTION)
    """opacity of the class colours over the image"""
    batch_size: int = number(8, ge=1)
    """images per inference batch (the Keras engine batches; torch predicts one by one)"""


@dataclass
class DataCommandConfig(CommandConfig):
    """Schema of the `segtrain data <subcommand>` apps (synth, prepare, inspect, ...)."""

    task: str = "data"
    src: str | None = None
    """upload/download: the source (local directory or s3:// URI)"""
    dst: str | None = None
    """upload/download: the destination (local directory or s3:// URI)"""
    samples: int = number(8, ge=1)
    """inspect: how many sample images in the grid"""
    output: str | None = None
    """inspect: where the report and plots go; null: the run directory"""
    force: bool = False
    """synth/prepare: rebuild even when the existing output matches the settings"""
    data_bench: DataBenchConfig = field(default_factory=DataBenchConfig)
    """settings of `segtrain data bench`"""


@dataclass
class BenchConfig(CommandConfig):
    """`segtrain bench`: speed figures as ratios measured in one run, written to a file."""

    task: str = "bench"
    suites: list[str] = field(
        default_factory=lambda: list(BENCH_SUITES), metadata=each(choices=BENCH_SUITES)
    )
    """which suites: data (label encoding, cache vs raw loading), train_step (DeepLabV3), scaling
    (1 vs N data-parallel processes)"""
    output_dir: str = "bench_results"
    """where the results file is written"""
    steps: int = number(5, ge=1)
    """timed steps per measurement"""
    warmup: int = number(2, ge=0)
    """untimed steps before each measurement"""
    batch_size: int = number(4, ge=1)
    """train_step suite: batch size"""
    image_size: list[int] = field(default_factory=lambda: [256, 384], metadata=each(length=2, ge=1))
    """train_step suite: [height, width]"""
    backbones: list[str] = field(
        default_factory=lambda: ["mobilenet_v3_large"],
        metadata=each(choices=BACKBONES["deeplabv3"]),
    )
    """train_step suite: DeepLabV3 backbones measured"""
    scaling_models: list[str] = field(
        default_factory=lambda: ["deeplabv3", "enet"], metadata=each(choices=MODEL_FRAMEWORKS)
    )
    """scaling suite: real `segtrain train` runs with 1 vs N data-parallel processes"""
    scaling_devices: list[int] = field(default_factory=lambda: [1, 2], metadata=each(ge=1))
    """scaling suite: data-parallel process counts compared"""
    scaling_samples: int = number(64, ge=1)
    """scaling suite: synthetic samples per run"""
    scaling_epochs: int = number(2, ge=1)
    """scaling suite: epochs per run"""
    scaling_overrides: list[str] = field(default_factory=list)
    """extra `segtrain train` overrides for every scaling run (e.g. dataset.image_size=...)"""
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
    "report_schema": ReportConfig,
    "predict_schema": PredictConfig,
    "data_schema": DataCommandConfig,
    "bench_schema": BenchConfig,
}


def register_configs() -> None:
    """Register every schema; group files start with ``defaults: [/schema/<group>@_here_]``."""
    cs = ConfigStore.instance()
    for name, schema in PRIMARY_SCHEMAS.items():
        cs.store(name=name, node=schema)
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group="schema", name=group, node=schema)


# ----------------------------------------------------------------------------- checking
def _model_rules(node: DictConfig, path: str) -> str | None:
    name, framework, backbone = str(node.name), str(node.framework), str(node.backbone)
    if name in MODEL_FRAMEWORKS and framework != MODEL_FRAMEWORKS[name]:
        return (
            f"{path}.framework={framework!r}: {name} is trained by the "
            f"{MODEL_FRAMEWORKS[name]} engine; expected {path}.framework={MODEL_FRAMEWORKS[name]}"
        )
    if name in BACKBONES and backbone not in BACKBONES[name]:
        return (
            f"{path}.backbone={backbone!r}: expected one of {', '.join(BACKBONES[name])} "
            f"for {path}.name={name}"
        )
    return None


def _augment_rules(node: DictConfig, path: str) -> str | None:
    if float(node.scale_min) > float(node.scale_max):
        return (
            f"{path}.scale_min={node.scale_min} > {path}.scale_max={node.scale_max}: "
            "expected scale_min <= scale_max"
        )
    return None


def _split_rules(node: DictConfig, path: str) -> str | None:
    if float(node.val_fraction) + float(node.test_fraction) >= 1.0:
        return (
            f"{path}.val_fraction={node.val_fraction} + {path}.test_fraction="
            f"{node.test_fraction} leaves nothing to train on; expected a sum below 1"
        )
    return None


#: rules between the fields of one node, checked after each field passed its own rule
NODE_RULES: dict[type, Callable[[DictConfig, str], str | None]] = {
    ModelConfig: _model_rules,
    AugmentConfig: _augment_rules,
    SplitConfig: _split_rules,
}


def config_problems(cfg: DictConfig) -> list[str]:
    """Every unknown or missing key and every value its schema's rules refuse, one line each.

    Walks each node typed by a schema dataclass (the whole composed config of a command,
    or one group); a required value still ``???`` (``evaluate`` without ``checkpoint=``)
    is a problem too. Interpolations that cannot resolve here (``${hydra:...}`` outside a
    run) are left to the command that needs them.
    """
    problems: list[str] = []
    _walk(cfg, "", problems)
    return problems


def check_config(cfg: DictConfig) -> None:
    """Raise one :class:`ConfigError` line for the first problem :func:`config_problems` finds."""
    problems = config_problems(cfg)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more)


def _walk(node: DictConfig, path: str, problems: list[str]) -> None:
    schema = OmegaConf.get_type(node)
    if schema is None or not dataclasses.is_dataclass(schema):
        return
    fields = {f.name: f for f in dataclasses.fields(schema)}
    where = path or "the config"
    present = list(node.keys())  # ``in node`` is False for a ``???`` value
    for key in present:
        if str(key) not in fields and not (not path and key == "hydra"):
            problems.append(
                f"{_join(path, key)} is not a key of {where}; valid keys: {', '.join(fields)}"
            )
    found_before = len(problems)
    for name, spec in fields.items():
        key = _join(path, name)
        if name not in present:
            problems.append(f"{key} was removed; every key of {where} needs a value")
            continue
        if OmegaConf.is_missing(node, name):
            problems.append(f"{key} is not set; expected {key}=<value>")
            continue
        try:
            value = node[name]
        except Exception:  # an interpolation only a Hydra run (or the task) can resolve
            continue
        if isinstance(value, DictConfig):
            _walk(value, key, problems)
            continue
        rule: Rule | None = spec.metadata.get(RULE)
        if rule is None or value is None:
            continue
        plain = OmegaConf.to_container(value) if isinstance(value, ListConfig) else value
        problem = rule.problem(plain)
        if problem is not None:
            shown = f"{plain!r}" if isinstance(plain, str) else f"{plain}"
            problems.append(f"{key}={shown}: {problem}")
    node_rule = NODE_RULES.get(schema)
    if node_rule is not None and len(problems) == found_before:
        problem = node_rule(node, path or schema.__name__)
        if problem is not None:
            problems.append(problem)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)
