"""A tiny real training run writes metrics.csv and report.html; the page is opened in a
real headless Chromium: no console errors, nothing fetched from a network, every image
decoded, the IoU table one row per class with the numbers of the run's metrics.json. A
full-page screenshot goes to test-artifacts/report/. Then ``segtrain evaluate`` with
``compare=`` writes its plots and the side-by-side comparison."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from segtrain.runtime.metric_log import STANDARD_METRICS

TINY = [
    "dataset.synth.num_sequences=3",
    "dataset.synth.frames_per_sequence=4",
    "dataset.synth.height=64",
    "dataset.synth.width=96",
    "dataset.image_size=[64,96]",
    "dataset.num_workers=0",
    "trainer.batch_size=4",
    "logger=none",
    "hardware.precision=32",
]
PAGE_FACTS = """JSON.stringify({
  images: [...document.images].map(i => ({alt: i.alt, w: i.naturalWidth, h: i.naturalHeight,
                                          complete: i.complete})),
  rows: [...document.querySelectorAll('#iou-table tbody tr')].map(r => ({
      name: r.dataset.class, iou: r.dataset.iou, text: r.cells[1].textContent})),
  sections: [...document.querySelectorAll('section h2')].map(h => h.textContent)
})"""


def segtrain(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segtrain.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("report")
    out = segtrain("train", *TINY, "trainer.max_epochs=2", "hydra.run.dir=run", cwd=work)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"Report written to {work / 'run' / 'report.html'}" in out.stdout
    return work / "run"


def test_training_writes_one_metrics_row_per_epoch(run):
    with (run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert list(rows[0])[: len(STANDARD_METRICS)] == list(STANDARD_METRICS)
    assert any(key.startswith("val_IoU/") for key in rows[0])
    printed = json.loads((run / "results.json").read_text())["metrics"]
    assert float(rows[-1]["val_mIoU"]) == pytest.approx(printed["val_mIoU"])


def test_report_opens_in_chromium_with_images_and_the_iou_table(run, browser, artifact_dir):
    record = json.loads((run / "evaluation" / "metrics.json").read_text())
    html = (run / "report.html").read_text()
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing to fetch
    session = browser.open((run / "report.html").as_uri())
    facts = json.loads(browser.evaluate(session, PAGE_FACTS))
    assert browser.console_errors() == []
    fetched = [u for u in browser.requested_urls() if not u.startswith(("file:", "data:"))]
    assert fetched == []
    alts = [i["alt"] for i in facts["images"]]
    assert {"training curves", "per-class IoU", "confusion matrix"} <= set(alts)
    assert sum(a.startswith("overlay ") for a in alts) == 4
    assert all(i["complete"] and i["w"] > 0 and i["h"] > 0 for i in facts["images"]), facts
    rows = facts["rows"]
    assert [r["name"] for r in rows] == list(record["per_class_iou"])
    for row in rows:
        expected = record["per_class_iou"][row["name"]]
        if expected is None:
            assert row["iou"] == "" and row["text"] == "n/a"
        else:
            assert float(row["iou"]) == expected
            assert row["text"] == f"{100 * expected:.2f}"
    assert any("Training curves" in s for s in facts["sections"])
    shot = browser.screenshot(session, artifact_dir / "report.png")
    assert shot.stat().st_size > 10_000


def test_report_command_rewrites_the_page(run):
    (run / "report.html").unlink()
    out = segtrain("report", f"run={run}", "overlays=1", "hydra.run.dir=report_app", cwd=run.parent)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = (run / "report.html").read_text()
    assert text.count('alt="overlay ') == 1 and 'id="iou-table"' in text


def test_evaluate_writes_plots_and_compares_with_another_evaluation(run):
    out = segtrain(
        "evaluate",
        f"checkpoint={run / 'model'}",
        f"compare={run / 'evaluation' / 'metrics.json'}",
        "confusion_log=true",
        "hydra.run.dir=eval",
        cwd=run.parent,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    eval_dir = run.parent / "eval"
    for name in ("metrics.json", "confusion_matrix.png", "per_class_iou.png"):
        assert (eval_dir / name).stat().st_size > 0, name
    result = json.loads((eval_dir / "comparison.json").read_text())
    mine = json.loads((eval_dir / "metrics.json").read_text())
    best = json.loads((run / "evaluation" / "metrics.json").read_text())
    for name, entry in result["per_class_iou"].items():
        assert entry["checkpoint"] == mine["per_class_iou"][name]
        assert entry["compare"] == best["per_class_iou"][name]
    assert result["summary"]["mIoU"]["difference"] == pytest.approx(mine["mIoU"] - best["mIoU"])
    assert (eval_dir / "iou_comparison.png").stat().st_size > 0
    assert "Comparison with" in out.stdout
