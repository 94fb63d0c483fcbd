"""metric_log: the printed line and the SageMaker regexes come from one definition."""

import re

from segtrain.runtime.metric_log import (
    STANDARD_METRICS,
    format_metric_line,
    metric_definitions,
    parse_metric_lines,
)


def test_line_format_epoch_first_then_metrics_in_order():
    line = format_metric_line({"train_loss": 0.41, "val_mIoU": 0.613}, epoch=3)
    assert line == "[metrics] epoch=3 train_loss=0.41 val_mIoU=0.613"


def test_every_standard_metric_round_trips_through_its_regex():
    values = {name: i + 0.125 for i, name in enumerate(STANDARD_METRICS) if name != "epoch"}
    line = format_metric_line(values, epoch=7)
    (row,) = parse_metric_lines(f"some log\n{line}\nmore log")
    assert row["epoch"] == 7
    for name, value in values.items():
        assert row[name] == value


def test_regex_does_not_confuse_prefixed_names():
    line = format_metric_line({"val_loss": 0.5, "loss": 0.9})
    (row,) = parse_metric_lines(line, names=["loss", "val_loss"])
    assert row == {"loss": 0.9, "val_loss": 0.5}


def test_nan_and_scientific_values_are_parsed():
    line = format_metric_line({"val_loss": float("nan"), "lr": 1.5e-05})
    (row,) = parse_metric_lines(line)
    assert row["lr"] == 1.5e-05
    assert row["val_loss"] != row["val_loss"]  # NaN


def test_definitions_are_valid_for_sagemaker():
    defs = metric_definitions()
    assert [d["Name"] for d in defs] == list(STANDARD_METRICS)
    for d in defs:
        assert len(d["Regex"]) <= 500
        re.compile(d["Regex"])
