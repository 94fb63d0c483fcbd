"""``segtrain bench``: run benchmark suites and write their results to files.

Each suite reports ratios measured within one run on this machine (absolute seconds
differ between machines; ratios travel better). Framework suites run in their own
process so torch and TensorFlow never share one.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from segtrain.errors import ConfigError
from segtrain.runtime.checkpoints import atomic_write_text

log = logging.getLogger("segtrain.bench")


def _train_step(cfg: DictConfig) -> dict[str, Any]:
    spec = {
        "backbones": list(cfg.backbones), "batch_size": int(cfg.batch_size),
        "image_size": list(cfg.image_size), "steps": int(cfg.steps), "warmup": int(cfg.warmup),
    }
    out = subprocess.run(
        [sys.executable, "-m", "segtrain.engines.lightning_engine.bench", json.dumps(spec)],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"train_step benchmark failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _data(cfg: DictConfig) -> dict[str, Any]:
    from segtrain.data.bench import run_data_bench

    return run_data_bench(cfg)


SUITES = {"train_step": _train_step, "data": _data}


def _markdown(result: dict[str, Any]) -> str:
    rows = result.get("rows", [])
    if not rows:
        return ""
    keys = list(rows[0])
    lines = [f"### {result['suite']}", "", "| " + " | ".join(keys) + " |",
             "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def run_bench(cfg: DictConfig) -> dict[str, Any]:
    out_dir = Path(str(cfg.output_dir))
    results: dict[str, Any] = {}
    for suite in cfg.suites:
        if suite not in SUITES:
            raise ConfigError(f"bench suite {suite!r} is not known; expected one of {sorted(SUITES)}")
        log.info("Running benchmark suite %s", suite)
        results[suite] = SUITES[suite](cfg)
        atomic_write_text(out_dir / f"{suite}.json", json.dumps(results[suite], indent=2))
        print(_markdown(results[suite]), flush=True)
    summary = {"config": OmegaConf.to_container(cfg, resolve=True), "results": results}
    atomic_write_text(out_dir / "results.json", json.dumps(summary, indent=2))
    atomic_write_text(out_dir / "results.md", "\n".join(_markdown(r) for r in results.values()))
    print(f"Benchmark results written to {out_dir}/results.json and results.md", flush=True)
    return results
