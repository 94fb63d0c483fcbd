"""The per-epoch metrics file, the plots, evaluate's comparison and the HTML pages
(framework-free parts: no model is trained or loaded here)."""

from __future__ import annotations

import csv
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from segtrain import report_html
from segtrain.errors import ConfigError
from segtrain.eval_outputs import comparison, evaluation_record, format_comparison
from segtrain.metrics import scores_from_confusion
from segtrain.plots import confusion_png, curves_png, iou_bars_png, row_normalised, sweep_png
from segtrain.report import (
    REPORT_HTML,
    SWEEP_HTML,
    options_for_train,
    run_report,
    write_run_report,
    write_sweep_report,
)
from segtrain.runtime.epoch_table import (
    METRICS_CSV,
    WALL_TIME,
    class_iou,
    read_epoch_rows,
    write_epoch_row,
)
from segtrain.runtime.metric_log import STANDARD_METRICS

NAMES = ["road", "car", "sky"]
CONFUSION = np.array([[50, 5, 0], [10, 20, 0], [0, 0, 0]])


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


# ------------------------------------------------------------------ metrics.csv
def _row(epoch: int, miou: float) -> dict[str, float]:
    return {
        "train_loss": 1.0 / epoch,
        "val_loss": 1.5 / epoch,
        "val_mIoU": miou,
        "lr": 0.01,
        "throughput": 3.5,
        "val_IoU/road": miou + 0.1,
    }


def test_epoch_rows_have_the_metric_line_names_and_one_row_per_epoch(tmp_path):
    for epoch in (1, 2, 3):
        write_epoch_row(tmp_path, epoch, _row(epoch, 0.1 * epoch), now=1000.0 + epoch)
    with (tmp_path / METRICS_CSV).open() as handle:
        header = next(csv.reader(handle))
    assert header[: len(STANDARD_METRICS)] == list(STANDARD_METRICS)
    assert header[-1] == WALL_TIME and "val_IoU/road" in header
    rows = read_epoch_rows(tmp_path / METRICS_CSV)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[1]["val_mIoU"] == pytest.approx(0.2)
    assert rows[2][WALL_TIME] == 1003.0
    assert "val_pixel_acc" not in rows[0]  # an empty cell is no value


def test_a_resumed_run_replaces_the_rows_it_trains_again(tmp_path):
    for epoch in (1, 2, 3):
        write_epoch_row(tmp_path, epoch, _row(epoch, 0.1 * epoch))
    # resumed from the checkpoint of epoch 1 (last unloadable): epoch 2 is trained again
    write_epoch_row(tmp_path, 2, _row(2, 0.55))
    rows = read_epoch_rows(tmp_path / METRICS_CSV)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["val_mIoU"] == pytest.approx(0.55)
    write_epoch_row(tmp_path, 1, _row(1, 0.9))  # resume=false starts over
    assert [r["val_mIoU"] for r in read_epoch_rows(tmp_path / METRICS_CSV)] == [0.9]


def test_class_iou_keeps_only_per_class_entries():
    scores = scores_from_confusion(CONFUSION).as_dict("val_", NAMES)
    assert sorted(class_iou(scores)) == ["val_IoU/car", "val_IoU/road", "val_IoU/sky"]


def test_non_finite_values_round_trip(tmp_path):
    write_epoch_row(tmp_path, 1, {"val_mIoU": float("nan"), "train_loss": float("inf")})
    row = read_epoch_rows(tmp_path / METRICS_CSV)[0]
    assert np.isnan(row["val_mIoU"]) and row["train_loss"] == float("inf")


# ------------------------------------------------------------------ plots
def test_row_normalised_divides_each_truth_row_and_leaves_empty_rows_nan():
    norm = row_normalised(CONFUSION)
    assert norm[0].tolist() == pytest.approx([50 / 55, 5 / 55, 0])
    assert np.isnan(norm[2]).all()


@pytest.mark.parametrize("log_color", [False, True])
def test_figures_are_pngs(log_color):
    w, h = _png_size(confusion_png(CONFUSION, NAMES, log_color=log_color))
    assert w > 100 and h > 100
    assert min(_png_size(iou_bars_png([0.5, float("nan"), 0.2], NAMES))) > 100
    rows = [{"epoch": e, **_row(e, 0.1 * e)} for e in (1, 2)]
    assert min(_png_size(curves_png(rows))) > 100
    trials = [
        {"number": i, "params": {"model.lr": lr}, "objective": o}
        for i, (lr, o) in enumerate([(0.1, 0.3), (0.001, 0.5)])
    ]
    assert min(_png_size(sweep_png(trials, ["model.lr"], "val_mIoU"))) > 100


# ------------------------------------------------------------------ compare
def _record(confusion: np.ndarray, name: str = "a") -> dict:
    return evaluation_record(name, "synthetic", "val", confusion, NAMES)


def test_evaluation_record_holds_the_scores_of_metrics_py():
    record = _record(CONFUSION)
    scores = scores_from_confusion(CONFUSION)
    assert record["mIoU"] == pytest.approx(scores.mIoU)
    assert record["per_class_iou"]["car"] == pytest.approx(scores.iou[1])
    assert record["per_class_iou"]["sky"] is None  # absent from truth and prediction
    assert record["pixels"] == int(CONFUSION.sum())


def test_comparison_is_side_by_side_with_the_difference():
    better = np.array([[54, 1, 0], [2, 28, 0], [0, 0, 0]])
    result = comparison(_record(better, "new"), _record(CONFUSION, "old"))
    car = result["per_class_iou"]["car"]
    assert car["difference"] == pytest.approx(car["checkpoint"] - car["compare"])
    assert car["difference"] > 0
    assert result["per_class_iou"]["sky"]["difference"] is None
    text = format_comparison(result)
    assert re.search(r"car\s+\d+\.\d\d\s+\d+\.\d\d\s+\+\d+\.\d\d", text)
    assert "mIoU" in text and "n/a" in text


def test_comparison_refuses_other_classes():
    other = evaluation_record("b", "synthetic", "val", np.eye(2, dtype=int), ["road", "car"])
    with pytest.raises(ConfigError, match="other classes"):
        comparison(_record(CONFUSION), other)


# ------------------------------------------------------------------ HTML
def test_html_escapes_run_text_and_iou_table_has_one_row_per_class():
    record = _record(CONFUSION)
    record["per_class_iou"] = {
        "<b>road</b>": 0.5,
        **{k: v for k, v in record["per_class_iou"].items() if k != "road"},
    }
    table = report_html.iou_table(record, [(1, 2, 3)] * 3)
    assert "<b>road</b>" not in table and "&lt;b&gt;road&lt;/b&gt;" in table
    assert table.count("<tr data-class=") == 3
    page = report_html.page("t<", "s", [report_html.section("x", table, "x")])
    assert "<title>t&lt;</title>" in page and "http" not in page


def _fake_run(root: Path, epochs: int = 3) -> Path:
    (root / ".hydra").mkdir(parents=True)
    (root / ".hydra" / "overrides.yaml").write_text("- trainer.max_epochs=3\n- model.lr=0.01\n")
    cfg = {
        "task": "train",
        "model": {"name": "deeplabv3", "framework": "torch", "cpu_precision": None},
        "dataset": {"name": "synthetic"},
        "trainer": {"name": "single", "parallelism": "single", "batch_size": 4},
        "hardware": {
            "name": "cpu",
            "accelerator": "cpu",
            "devices": 1,
            "nodes": 1,
            "precision": "32",
        },
        "paths": {"model_dir": str(root / "model"), "checkpoint_dir": str(root / "checkpoints")},
    }
    (root / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (root / "cli.log").write_text("[2026-12-01 10:00:00,000][segtrain.train][INFO] - Training\n")
    for epoch in range(1, epochs + 1):
        write_epoch_row(root, epoch, _row(epoch, 0.1 * epoch), now=1_800_000_000.0 + 30 * epoch)
    (root / "results.json").write_text(
        json.dumps({"optimized_metric": "val_mIoU", "objective": 0.3})
    )
    return root


def _report_options(**extra) -> OmegaConf:
    return OmegaConf.create({"evaluate": False, "output": None, "confusion_log": False, **extra})


def test_run_page_without_a_model_has_curves_timing_and_the_command(tmp_path):
    run = _fake_run(tmp_path / "run")
    out = write_run_report(run, _report_options(), in_report_app=True)
    assert out == run / REPORT_HTML
    text = out.read_text()
    assert "segtrain train trainer.max_epochs=3 model.lr=0.01" in text
    assert text.count('<img id="curves-img"') == 1 and "data:image/png;base64," in text
    assert "No checkpoint evaluated" in text
    assert re.search(r"mean epoch time \(after the first\)</th><td>30\.0 s", text)
    assert not re.search(r"""(src|href)=["']https?:""", text)


def test_report_of_a_sweep_links_its_trials_ranked(tmp_path):
    sweep = tmp_path / "multirun"
    for number, (lr, objective) in enumerate([(0.01, 0.2), (0.1, 0.6), (0.001, None)]):
        trial = sweep / str(number)
        (trial / ".hydra").mkdir(parents=True)
        (trial / ".hydra" / "overrides.yaml").write_text(
            f"- model.lr={lr}\n- trainer.max_epochs=2\n"
        )
        if objective is not None:
            (trial / "results.json").write_text(
                json.dumps({"optimized_metric": "val_mIoU", "objective": objective})
            )
            (trial / REPORT_HTML).write_text("<html></html>")
    out = write_sweep_report(sweep)
    assert out == sweep / SWEEP_HTML
    text = out.read_text()
    rows = re.findall(r"<tr><td>(\d)</td>", text)
    assert rows == ["1", "0", "2"]  # ranked by the objective, the failed trial last
    assert 'href="1/report.html"' in text and "failed / running" in text
    assert "<th>model.lr</th>" in text and "<th>trainer.max_epochs</th>" not in text


def test_report_of_s3_or_sagemaker_is_a_listed_gap(tmp_path):
    for run in ("s3://bucket/job/output", "sagemaker:job-1"):
        with pytest.raises(NotImplementedError, match="not built yet"):
            run_report(OmegaConf.create({"run": run}))
    with pytest.raises(ConfigError, match="no training run"):
        run_report(OmegaConf.create({"run": str(tmp_path), "output": None}))


def test_train_takes_the_report_options_from_the_schema(compose_config):
    cfg = compose_config("train", ["hydra.run.dir=x", "paths.output_dir=out"])
    assert cfg.report is True
    opts = options_for_train(cfg)
    assert opts.overlays == 4 and opts.evaluate is True and opts.split == "val"
    assert opts.batch_size == cfg.trainer.batch_size


def test_report_and_evaluate_configs_compose(compose_config):
    cfg = compose_config("report", ["run=some/run"])
    assert cfg.task == "report" and cfg.overlays == 4 and cfg.output is None
    ev = compose_config("evaluate", ["checkpoint=x", "compare=y", "confusion_log=true"])
    assert ev.compare == "y" and ev.plots is True and ev.confusion_log is True
