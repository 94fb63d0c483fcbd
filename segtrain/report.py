"""``segtrain report run=<run dir | sweep dir>``: one self-contained HTML page of a run.

The page holds the command and resolved config, the environment, the training curves of
``metrics.csv`` (:mod:`segtrain.runtime.epoch_table`), the per-class IoU table and
confusion matrix of the run's best checkpoint (scored now on its validation split, the
record also written to ``<run>/evaluation/metrics.json`` beside the evaluate plots),
prediction overlays on a few validation images, timing and where the artifacts are.
``segtrain train`` writes it at the end of every run (``report=false`` skips it), and a
sweep (``-m``) ends with one summary page linking its trials (:class:`SweepReport`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from segtrain import report_html as H
from segtrain.config import ReportConfig
from segtrain.data.source import open_split
from segtrain.engines.base import load_engine
from segtrain.errors import ConfigError
from segtrain.eval_outputs import METRICS_JSON, evaluation_record, write_plots
from segtrain.plots import confusion_png, curves_png, iou_bars_png, sweep_png
from segtrain.runtime.artifacts import CONFIG_FILE, ModelArtifact, resolve_artifact
from segtrain.runtime.checkpoints import atomic_write_text
from segtrain.runtime.epoch_table import METRICS_CSV, WALL_TIME, read_epoch_rows
from segtrain.runtime.metric_log import (
    EPOCH,
    LR,
    MIOU,
    SCORES,
    THROUGHPUT,
    TRAIN_LOSS,
    VAL_LOSS,
    VAL_MIOU,
)
from segtrain.runtime.precision import resolve_precision
from segtrain.tasks_common import resolve_config, split_confusion, task_config
from segtrain.visualize import side_by_side

log = logging.getLogger("segtrain.report")

REPORT_HTML = "report.html"
SWEEP_HTML = "sweep_report.html"
ENVIRONMENT_JSON = "environment.json"
EVALUATION_DIR = "evaluation"
RESULTS_JSON = "results.json"
#: the report options a training run takes from ReportConfig's defaults
OPTION_KEYS = ("output", "evaluate", "split", "overlays", "overlay_alpha", "confusion_log")
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+\]")
BEST_TORCH = "best-*.ckpt"
BEST_KERAS = "best.weights.h5"


# ------------------------------------------------------------------------ the command
def run_report(cfg: DictConfig) -> Path:
    """The task behind ``segtrain report``: a run's page, or a sweep's summary page."""
    run = str(cfg.run)
    if run.startswith(("s3://", "sagemaker:")):
        raise NotImplementedError(
            f"report run={run}: reading a job's output from S3 / SageMaker is not built yet "
            "(issue 13 section 1); copy it first (segtrain data download src=<s3 uri> "
            "dst=<dir>) and run segtrain report run=<dir>"
        )
    run_dir = Path(run).expanduser()
    if not run_dir.is_dir():
        raise ConfigError(f"run={run} is not a directory (expected a training run's output dir)")
    if sweep_trials(run_dir):
        out = write_sweep_report(run_dir, cfg.output)
    elif not (run_dir / ".hydra").is_dir() and not (run_dir / RESULTS_JSON).is_file():
        raise ConfigError(
            f"run={run} holds no training run (no .hydra/ or {RESULTS_JSON}) and no sweep trials"
        )
    else:
        out = write_run_report(run_dir, resolve_config(cfg), in_report_app=True)
    print(f"Report written to {out}", flush=True)
    return out


def options_for_train(cfg: DictConfig) -> DictConfig:
    """A training config with the report options (ReportConfig's defaults) added."""
    opts = resolve_config(cfg)
    defaults = {f.name: f.default for f in dataclasses.fields(ReportConfig)}
    for key in OPTION_KEYS:
        opts[key] = defaults[key]
    opts["batch_size"] = int(cfg.trainer.batch_size)
    return opts


def write_train_report(cfg: DictConfig, run_dir: Path) -> Path | None:
    """What ``segtrain train`` calls when a run ends: the environment record and the page.

    A report that cannot be written is a warning, never a failed training run.
    """
    try:
        atomic_write_text(run_dir / ENVIRONMENT_JSON, json.dumps(environment(cfg), indent=2))
        out = write_run_report(run_dir, options_for_train(cfg), in_report_app=False)
    except Exception as err:  # the model and results are safe; say why the page is missing
        log.warning(
            "No run report: %s: %s (segtrain report run=%s retries)",
            type(err).__name__,
            err,
            run_dir,
        )
        return None
    log.info("Run report: %s", out)
    print(f"Report written to {out}", flush=True)
    return out


# ------------------------------------------------------------------------ what a run has
@dataclass
class RunFiles:
    """Where a run directory keeps what the report shows."""

    root: Path
    config: DictConfig | None
    model_dir: Path | None
    checkpoint_dir: Path | None
    overrides: list[str] = field(default_factory=list)
    job: str = "train"

    @classmethod
    def find(cls, root: Path, paths: DictConfig | None = None) -> RunFiles:
        """The files of the run in ``root``; ``paths``: the run's own (resolved)
        ``paths`` config when the caller has it (train: on SageMaker the model and
        checkpoints are not below the output dir)."""
        hydra_dir = root / ".hydra"
        overrides: list[str] = []
        if (hydra_dir / "overrides.yaml").is_file():
            overrides = [str(o) for o in OmegaConf.load(hydra_dir / "overrides.yaml")]
        if paths is not None:
            model_dir: Path | None = Path(str(paths.model_dir))
            checkpoint_dir: Path | None = Path(str(paths.checkpoint_dir))
        else:
            model_dir = cls._dir(root, "model", "model_dir", hydra_dir)
            checkpoint_dir = cls._dir(root, "checkpoints", "checkpoint_dir", hydra_dir)
        config = None
        for candidate in (model_dir, checkpoint_dir):
            if candidate is not None and (candidate / CONFIG_FILE).is_file():
                config = OmegaConf.load(candidate / CONFIG_FILE)
                break
        if config is None and (hydra_dir / "config.yaml").is_file():
            config = OmegaConf.load(hydra_dir / "config.yaml")
        return cls(root, config, model_dir, checkpoint_dir, overrides)

    @staticmethod
    def _dir(root: Path, name: str, key: str, hydra_dir: Path) -> Path | None:
        """``<run>/<name>``, else the run's configured ``paths.<key>`` when it exists."""
        if (root / name).is_dir():
            return root / name
        if (hydra_dir / "config.yaml").is_file():
            value = OmegaConf.select(OmegaConf.load(hydra_dir / "config.yaml"), f"paths.{key}")
            if isinstance(value, str) and "${" not in value and Path(value).is_dir():
                return Path(value)
        return None

    def best_weights(self) -> Path | None:
        """The best checkpoint (torch: newest ``best-*.ckpt``; Keras: ``best.weights.h5``),
        else the final model."""
        if self.checkpoint_dir is not None:
            best = sorted(self.checkpoint_dir.glob(BEST_TORCH), key=lambda p: p.stat().st_mtime)
            if best:
                return best[-1]
            if (self.checkpoint_dir / BEST_KERAS).is_file():
                return self.checkpoint_dir / BEST_KERAS
        return self.model_dir

    def read_json(self, name: str) -> dict[str, Any] | None:
        path = self.root / name
        try:
            return json.loads(path.read_text()) if path.is_file() else None
        except (OSError, ValueError):
            return None

    def log_file(self) -> Path | None:
        logs = sorted(self.root.glob("*.log"))
        return logs[0] if logs else None


# ------------------------------------------------------------------------ environment
def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _gpus() -> str:
    if shutil.which("nvidia-smi") is None:
        return "none visible (no nvidia-smi)"
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as err:
        return f"nvidia-smi failed: {err}"
    return "; ".join(out.stdout.split("\n")).strip("; ") or "none"


def _effective_precision(cfg: DictConfig) -> str:
    hw = cfg.hardware
    accelerator = str(hw.accelerator)
    precision = str(hw.precision)
    cpu_override = OmegaConf.select(cfg, "model.cpu_precision")
    if accelerator == "cpu" and cpu_override:
        precision = str(cpu_override)
    if accelerator != "cpu" and precision == "auto":
        return "auto: bf16-mixed where the GPU supports it, else 16-mixed"
    return resolve_precision(precision, "cpu" if accelerator == "cpu" else "gpu")


def environment(cfg: DictConfig) -> dict[str, Any]:
    """Versions, machine and precision of the process calling it (train: the training one)."""
    framework = str(OmegaConf.select(cfg, "model.framework") or "")
    packages = (
        ("torch", "torchvision", "lightning")
        if framework == "torch"
        else ("tensorflow-cpu", "tensorflow", "keras")
    )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {
        "recorded": datetime.now().isoformat(timespec="seconds"),
        "host": platform.node(),
        "segtrain": _version("segtrain"),
        "python": sys.version.split()[0],
        **{p: _version(p) for p in packages if _version(p) != "not installed"},
        "platform": platform.platform(),
        "cpu": f"{_cpu_model()} ({os.cpu_count()} logical cores)",
        "memory": f"{mem / 2**30:.1f} GiB",
        "gpus": _gpus(),
        "hardware preset": str(OmegaConf.select(cfg, "hardware.name")),
        "accelerator x devices x nodes": " x ".join(
            str(cfg.hardware[k]) for k in ("accelerator", "devices", "nodes")
        ),
        "precision (configured)": str(cfg.hardware.precision),
        "precision (effective)": _effective_precision(cfg),
        "trainer": f"{OmegaConf.select(cfg, 'trainer.name')} ({OmegaConf.select(cfg, 'trainer.parallelism')})",
    }


# ------------------------------------------------------------------------ best checkpoint
@dataclass
class BestEvaluation:
    record: dict[str, Any]
    artifact: ModelArtifact
    overlays: list[tuple[str, bytes]]
    seconds: float


def evaluate_best(files: RunFiles, cfg: DictConfig, in_report_app: bool) -> BestEvaluation | None:
    """Score the best checkpoint on ``cfg.split`` and draw overlays on validation images;
    the record goes to ``<run>/evaluation/metrics.json`` (with the evaluate plots)."""
    weights = files.best_weights()
    if weights is None or not cfg.evaluate:
        return None
    start = time.perf_counter()
    artifact = resolve_artifact(weights)
    eval_cfg = task_config(cfg, artifact) if in_report_app else cfg
    engine = load_engine(artifact.framework)
    model = engine.load(artifact, eval_cfg)
    confusion = split_confusion(engine, model, eval_cfg, str(eval_cfg.split))
    record = evaluation_record(
        str(artifact.weights),
        str(eval_cfg.dataset.name),
        str(eval_cfg.split),
        confusion,
        artifact.classes.names,
    )
    out_dir = files.root / EVALUATION_DIR
    atomic_write_text(out_dir / METRICS_JSON, json.dumps(record, indent=2))
    write_plots(out_dir, record, artifact.classes, bool(eval_cfg.confusion_log))
    overlays = _overlays(engine, model, artifact, eval_cfg)
    return BestEvaluation(record, artifact, overlays, time.perf_counter() - start)


def _overlays(
    engine: Any, model: Any, artifact: ModelArtifact, cfg: DictConfig
) -> list[tuple[str, bytes]]:
    """``cfg.overlays`` validation images, evenly spread, as image|prediction|truth PNGs."""
    import cv2

    count = int(cfg.overlays)
    if count <= 0:
        return []
    source = open_split(cfg.dataset, "val")
    picks = sorted(
        {int(i) for i in np.linspace(0, len(source) - 1, min(count, len(source))).round()}
    )
    samples = [source[i] for i in picks]
    predictions = engine.predict_batches(model, [s.image for s in samples], cfg)
    classes = artifact.classes
    out = []
    for sample, pred in zip(samples, predictions, strict=True):
        panel = side_by_side(
            sample.image,
            pred,
            classes.names,
            classes.colors,
            classes.ignore_index,
            ground_truth=sample.mask,
            alpha=float(cfg.overlay_alpha),
        )
        ok, buf = cv2.imencode(".png", cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))
        if ok:
            out.append((str(sample.id), buf.tobytes()))
    return out


# ------------------------------------------------------------------------ the page
def write_run_report(run_dir: Path, cfg: DictConfig, in_report_app: bool) -> Path:
    """Gather, render and write ``<run>/report.html`` (or ``cfg.output``)."""
    files = RunFiles.find(Path(run_dir), None if in_report_app else cfg.paths)
    train_cfg = files.config
    rows = read_epoch_rows(files.root / METRICS_CSV)
    best = evaluate_best(files, cfg, in_report_app)
    env = files.read_json(ENVIRONMENT_JSON)
    env_note = "recorded by the training process"
    if env is None:
        env = environment(train_cfg if train_cfg is not None else cfg)
        env_note = "no environment.json in the run: this is the machine that wrote the report"
    results = files.read_json(RESULTS_JSON)
    sections = [
        _summary_section(files, train_cfg, results, rows, best),
        _command_section(files, train_cfg),
        H.section(
            "Environment",
            f'<p class="note">{H.esc(env_note)}</p>' + H.key_values(env.items(), "environment"),
            "env",
        ),
        _curves_section(rows),
        _best_section(best, bool(cfg.confusion_log)),
        _overlay_section(best),
        _timing_section(files, rows, best),
        _artifacts_section(files, best, cfg),
    ]
    title = "segtrain run report"
    subtitle = f"{files.root.resolve()} · written {datetime.now().isoformat(timespec='seconds')}"
    out = Path(str(cfg.output)) if cfg.get("output") else files.root / REPORT_HTML
    return atomic_write_text(out, H.page(title, subtitle, sections))


def _summary_section(
    files: RunFiles,
    cfg: DictConfig | None,
    results: dict | None,
    rows: list,
    best: BestEvaluation | None,
) -> str:
    items = []
    if cfg is not None:
        items += [
            ("model", f"{cfg.model.name} ({cfg.model.framework})"),
            ("dataset", str(cfg.dataset.name)),
        ]
    validated = [r for r in rows if VAL_MIOU in r and math.isfinite(r[VAL_MIOU])]
    if validated:
        top = max(validated, key=lambda r: r[VAL_MIOU])
        items.append(("best val mIoU (%), epoch", f"{H.pct(top[VAL_MIOU])} @ {int(top[EPOCH])}"))
    if rows:
        items.append(("epochs recorded", str(len(rows))))
    if results is not None:
        items.append(
            (f"objective {results.get('optimized_metric')}", H.number(results.get("objective")))
        )
    if best is not None:
        items.append(
            (f"best checkpoint mIoU (%), {best.record['split']}", H.pct(best.record.get(MIOU)))
        )
    state = "finished" if results is not None else "no results.json (running, stopped or failed)"
    return H.section(
        "Summary", H.cards(items) + f'<p class="note">state: {H.esc(state)}</p>', "summary"
    )


def _command_section(files: RunFiles, cfg: DictConfig | None) -> str:
    command = " ".join(["segtrain", files.job, *files.overrides])
    body = f'<pre id="command">{H.esc(command)}</pre>'
    if cfg is not None:
        body += "<details open><summary>resolved config</summary>"
        body += f'<pre id="config">{H.esc(OmegaConf.to_yaml(cfg))}</pre></details>'
    return H.section("Command and configuration", body, "command-config")


def _curves_section(rows: list[dict[str, float]]) -> str:
    if not rows:
        return H.section(
            "Training curves",
            f"<p>No {METRICS_CSV} in the run (written per epoch by both engines).</p>",
            "curves",
        )
    table_rows = []
    previous = None
    for r in rows:
        duration = r[WALL_TIME] - previous if previous is not None and WALL_TIME in r else None
        previous = r.get(WALL_TIME)
        table_rows.append(
            [
                int(r[EPOCH]),
                r.get(TRAIN_LOSS),
                r.get(VAL_LOSS),
                H.pct(r.get(VAL_MIOU)),
                r.get(LR),
                r.get(THROUGHPUT),
                duration,
            ]
        )
    headers = [
        "epoch",
        TRAIN_LOSS,
        VAL_LOSS,
        f"{VAL_MIOU} (%)",
        LR,
        f"{THROUGHPUT} (img/s)",
        "epoch time (s)",
    ]
    body = H.img(curves_png(rows), "training curves", "curves-img") + H.table(
        headers, table_rows, "epochs"
    )
    return H.section("Training curves", body, "curves")


def _best_section(best: BestEvaluation | None, log_color: bool) -> str:
    if best is None:
        return H.section(
            "Best checkpoint",
            "<p>No checkpoint evaluated (evaluate=false or none found).</p>",
            "best",
        )
    record, classes = best.record, best.artifact.classes
    names = list(record["per_class_iou"])
    summary = [(k, H.pct(record.get(k))) for k in SCORES]
    body = (
        f"<p>{H.esc(record['checkpoint'])} on {H.esc(record['dataset'])} / {H.esc(record['split'])}"
        f" ({record['pixels']} labelled pixels)</p>"
        + H.cards(summary)
        + '<div class="grid"><div>'
        + H.iou_table(record, classes.colors)
        + "</div><div>"
        + H.img(
            iou_bars_png(
                [np.nan if v is None else v for v in record["per_class_iou"].values()],
                names,
                classes.colors,
            ),
            "per-class IoU",
            "iou-bars",
        )
        + "</div></div>"
        + H.img(
            confusion_png(np.asarray(record["confusion_matrix"]), names, log_color=log_color),
            "confusion matrix",
            "confusion-img",
        )
    )
    return H.section("Best checkpoint: per-class IoU and confusion matrix", body, "best")


def _overlay_section(best: BestEvaluation | None) -> str:
    if best is None or not best.overlays:
        return H.section(
            "Predictions", "<p>No overlays (overlays=0 or no checkpoint).</p>", "overlays"
        )
    figures = "".join(
        f'<figure class="overlay">{H.img(png, f"overlay {name}")}'
        f'<figcaption class="note">{H.esc(name)}</figcaption></figure>'
        for name, png in best.overlays
    )
    body = f'<div class="grid">{figures}</div>'
    return H.section(
        "Predictions on validation images (image | prediction | ground truth)", body, "overlays"
    )


def _log_start(files: RunFiles) -> float | None:
    log_file = files.log_file()
    if log_file is None:
        return None
    with log_file.open(errors="replace") as handle:
        for line in handle:
            m = LOG_TIME.match(line)
            if m:
                return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
    return None


def _timing_section(
    files: RunFiles, rows: list[dict[str, float]], best: BestEvaluation | None
) -> str:
    pairs: list[tuple[str, str]] = []
    start = _log_start(files)
    stamps = [r[WALL_TIME] for r in rows if WALL_TIME in r]
    if start is not None:
        pairs.append(("run started", datetime.fromtimestamp(start).isoformat(timespec="seconds")))
    if stamps:
        pairs.append(
            (
                "last epoch recorded",
                datetime.fromtimestamp(stamps[-1]).isoformat(timespec="seconds"),
            )
        )
    if start is not None and stamps:
        pairs.append(
            ("start to last epoch", f"{stamps[-1] - start:.1f} s (data preparation included)")
        )
    if len(stamps) > 1:
        pairs.append(
            (
                "mean epoch time (after the first)",
                f"{(stamps[-1] - stamps[0]) / (len(stamps) - 1):.1f} s",
            )
        )
    throughputs = [r[THROUGHPUT] for r in rows if THROUGHPUT in r]
    if throughputs:
        pairs.append(
            ("mean training throughput", f"{sum(throughputs) / len(throughputs):.2f} images/s")
        )
    if best is not None:
        pairs.append(("report evaluation (best checkpoint + overlays)", f"{best.seconds:.1f} s"))
    return H.section(
        "Timing", H.key_values(pairs, "timing") if pairs else "<p>No timing recorded.</p>", "timing"
    )


def _artifacts_section(files: RunFiles, best: BestEvaluation | None, cfg: DictConfig) -> str:
    entries = [
        ("run directory", files.root),
        ("final model", files.model_dir),
        ("checkpoints", files.checkpoint_dir),
        ("best checkpoint", best.artifact.weights if best else files.best_weights()),
        ("per-epoch metrics", files.root / METRICS_CSV),
        ("results", files.root / RESULTS_JSON),
        ("best checkpoint evaluation", files.root / EVALUATION_DIR / METRICS_JSON),
        ("logs", files.root / "logs"),
        ("this report", Path(str(cfg.output)) if cfg.get("output") else files.root / REPORT_HTML),
    ]
    rows = []
    for label, path in entries:
        where = "" if path is None else str(Path(path).resolve())
        exists = (
            ""
            if path is None
            else ("yes" if Path(path).exists() or label == "this report" else "no")
        )
        rows.append([H.Html(H.esc(label)), H.Html(f"<code>{H.esc(where)}</code>"), H.Html(exists)])
    return H.section(
        "Artifacts", H.table(["what", "where", "exists"], rows, "artifacts"), "artifacts"
    )


# ------------------------------------------------------------------------ sweeps
def sweep_trials(sweep_dir: Path) -> list[Path]:
    """The trial directories of a Hydra multirun dir (numbered, each a run)."""
    return sorted(
        (
            p
            for p in sweep_dir.iterdir()
            if p.is_dir() and p.name.isdigit() and (p / ".hydra").is_dir()
        ),
        key=lambda p: int(p.name),
    )


def _trial(path: Path) -> dict[str, Any]:
    files = RunFiles.find(path)
    params = {}
    for override in files.overrides:
        key, _, value = override.partition("=")
        try:
            params[key.lstrip("+~")] = json.loads(value)
        except ValueError:
            params[key.lstrip("+~")] = value
    results = files.read_json(RESULTS_JSON) or {}
    return {
        "number": int(path.name),
        "dir": path,
        "params": params,
        "objective": results.get("objective"),
        "metric": results.get("optimized_metric"),
        "report": path / REPORT_HTML if (path / REPORT_HTML).is_file() else None,
    }


def write_sweep_report(sweep_dir: Path, output: str | None = None) -> Path:
    """``<sweep>/sweep_report.html``: each trial's parameters, objective and report link,
    and the objective against each parameter the trials differ in."""
    trials = [_trial(p) for p in sweep_trials(sweep_dir)]
    if not trials:
        raise ConfigError(f"{sweep_dir} holds no sweep trials (numbered run directories)")
    keys = sorted({k for t in trials for k in t["params"]})
    swept = [
        k for k in keys if len({json.dumps(t["params"].get(k), default=str) for t in trials}) > 1
    ]
    metric = next((t["metric"] for t in trials if t["metric"]), VAL_MIOU)
    ranked = sorted(
        trials,
        key=lambda t: -(t["objective"] if isinstance(t["objective"], int | float) else -math.inf),
    )
    rows = []
    for t in ranked:
        link = (
            H.Html(f'<a href="{H.esc(t["report"].relative_to(sweep_dir).as_posix())}">report</a>')
            if t["report"]
            else H.Html("no report")
        )
        rows.append(
            [
                t["number"],
                *[H.Html(H.esc(t["params"].get(k, ""))) for k in swept],
                t["objective"] if t["objective"] is not None else "failed / running",
                link,
            ]
        )
    body = H.img(
        sweep_png(trials, swept, str(metric)), "objective per parameter", "sweep-img"
    ) + H.table(["trial", *swept, str(metric), "report"], rows, "trials")
    sections = [H.section(f"{len(trials)} trials, ranked by {metric}", body, "trials-section")]
    out = Path(output) if output else sweep_dir / SWEEP_HTML
    return atomic_write_text(
        out, H.page("segtrain sweep report", str(sweep_dir.resolve()), sections)
    )


class SweepReport(Callback):
    """Hydra callback (``hydra.callbacks`` in ``train.yaml``): the sweep page when a
    multirun ends, unless ``report=false``."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.get("report", True):
            return
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            out = write_sweep_report(sweep_dir)
        except Exception as err:  # the trials are done; a missing page is only a warning
            log.warning("No sweep report for %s: %s", sweep_dir, err)
            return
        print(f"Sweep report written to {out}", flush=True)
