"""``segtrain bench``: run benchmark suites and write their results to files.

Each suite reports ratios measured within one run on this machine (absolute seconds
differ between machines; ratios travel better). Framework suites run in their own
process so torch and TensorFlow never share one.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from segtrain.errors import ConfigError
from segtrain.runtime.checkpoints import atomic_write_text
from segtrain.runtime.metric_log import THROUGHPUT, parse_metric_lines

log = logging.getLogger("segtrain.bench")


def _train_step(cfg: DictConfig) -> dict[str, Any]:
    spec = {
        "backbones": list(cfg.backbones),
        "batch_size": int(cfg.batch_size),
        "image_size": list(cfg.image_size),
        "steps": int(cfg.steps),
        "warmup": int(cfg.warmup),
    }
    out = subprocess.run(
        [sys.executable, "-m", "segtrain.engines.lightning_engine.bench", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"train_step benchmark failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _scaling_run(cfg: DictConfig, model: str, devices: int, work: Path) -> dict[str, Any]:
    """One bounded ``segtrain train`` in a subprocess; throughput of its last epoch."""
    parallelism = "single" if devices == 1 else "data_parallel"
    run_dir = work / f"{model}-{devices}"
    args = [
        sys.executable,
        "-m",
        "segtrain.cli",
        "train",
        f"model={model}",
        f"trainer={parallelism}",
        f"hardware.devices={devices}",
        f"trainer.max_epochs={int(cfg.scaling_epochs)}",
        f"trainer.batch_size={int(cfg.batch_size)}",
        "trainer.limit_val_batches=1",
        f"dataset.num_samples={int(cfg.scaling_samples)}",
        "logger=none",
        "resume=false",
        f"hydra.run.dir={run_dir}",
        f"paths.checkpoint_dir={run_dir}/checkpoints",
        f"paths.model_dir={run_dir}/model",
    ]
    if parallelism == "data_parallel":
        args.append("trainer.lr_scaling=none")
    args += [str(o) for o in cfg.scaling_overrides]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(
            f"scaling benchmark run {model} x{devices} failed:\n{(out.stdout + out.stderr)[-3000:]}"
        )
    lines = parse_metric_lines(out.stdout + out.stderr, names=[THROUGHPUT])
    if not lines:
        raise RuntimeError(f"scaling benchmark run {model} x{devices} printed no metric line")
    return {
        "model": model,
        "replicas": devices,
        "how": _how(model, devices),
        "images_per_s": round(lines[-1][THROUGHPUT], 2),
    }


def _how(model: str, devices: int) -> str:
    """What N replicas mean for the engine: torch runs processes, Keras one process."""
    if devices == 1:
        return "1 process"
    if model == "enet":
        return f"1 process, MirroredStrategy over {devices} devices"
    return f"{devices} processes (DDP)"


def _scaling(cfg: DictConfig) -> dict[str, Any]:
    """Data-parallel scaling: global training images/s for 1 vs N replicas on this machine.

    Each run is a real ``segtrain train``, so the figure includes data loading and the
    gradient all-reduce: DeepLabV3 runs N DDP processes (gloo on CPU), ENet one process
    whose MirroredStrategy drives N devices (logical CPUs here). The last epoch is
    reported (the first pays for start-up and tracing). On a 2-core machine N replicas
    share the same cores that one already uses with two threads, so a ratio near (or
    below) 1.0 is the honest result: the suite shows the overhead of the distribution,
    not a speed-up.
    """
    rows = []
    with tempfile.TemporaryDirectory(prefix="segtrain-scaling-") as tmp:
        for model in cfg.scaling_models:
            base = None
            for devices in cfg.scaling_devices:
                row = _scaling_run(cfg, str(model), int(devices), Path(tmp))
                base = base or row["images_per_s"]
                row["speedup_vs_1"] = round(row["images_per_s"] / base, 3)
                rows.append(row)
    return {"suite": "scaling", "cpu_count": os.cpu_count(), "rows": rows}


def _data(cfg: DictConfig) -> dict[str, Any]:
    from segtrain.data.bench import run_data_bench

    return run_data_bench(cfg)


def _download(cfg: DictConfig) -> dict[str, Any]:
    from segtrain.data.download_bench import run_download_bench

    return run_download_bench(cfg)


SUITES = {"train_step": _train_step, "data": _data, "scaling": _scaling, "download": _download}


def _markdown(result: dict[str, Any]) -> str:
    rows = result.get("rows", [])
    if not rows:
        return ""
    keys = list(rows[0])
    lines = [f"### {result['suite']}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def run_bench(cfg: DictConfig) -> dict[str, Any]:
    out_dir = Path(str(cfg.output_dir))
    results: dict[str, Any] = {}
    for suite in cfg.suites:
        if suite not in SUITES:
            raise ConfigError(
                f"bench suite {suite!r} is not known; expected one of {sorted(SUITES)}"
            )
        log.info("Running benchmark suite %s", suite)
        results[suite] = SUITES[suite](cfg)
        atomic_write_text(out_dir / f"{suite}.json", json.dumps(results[suite], indent=2))
        print(_markdown(results[suite]), flush=True)
    summary = {"config": OmegaConf.to_container(cfg, resolve=True), "results": results}
    atomic_write_text(out_dir / "results.json", json.dumps(summary, indent=2))
    atomic_write_text(out_dir / "results.md", "\n".join(_markdown(r) for r in results.values()))
    print(f"Benchmark results written to {out_dir}/results.json and results.md", flush=True)
    return results
