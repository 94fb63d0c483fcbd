"""The engines build confusion matrices and nothing more: every score is segtrain.metrics',
every metric name metric_log's, and an engine offers exactly the Engine protocol.

Read from the source (``ast``), so no framework is imported here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from segtrain.engines.base import Engine
from segtrain.runtime import metric_log

ROOT = Path(__file__).resolve().parents[3]
ENGINES = ROOT / "segtrain" / "engines"
ENGINE_FILES = sorted(p for p in ENGINES.rglob("*.py") if p.name != "base.py")
ENGINE_CLASSES = {
    "lightning_engine/engine.py": "LightningEngine",
    "keras_engine/engine.py": "KerasEngine",
}
#: what arithmetic on a confusion matrix starts with: its diagonal (true positives)
SCORE_ARITHMETIC = {"diag", "diag_part", "diagonal", "trace", "nanmean"}
#: name parts of a function that computes a score (``scores_tf``, ``mean_iou``, ``pixel_acc``)
SCORE_WORDS = {"iou", "miou", "fwiou", "score", "scores", "acc", "accuracy"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _called_names(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
    return names


def _function(tree: ast.Module, cls: str, name: str) -> ast.FunctionDef:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == name:
                    return item
    raise AssertionError(f"{cls}.{name} not found")


def test_there_are_engine_modules_to_check():
    names = {p.relative_to(ENGINES).as_posix() for p in ENGINE_FILES}
    assert {"lightning_engine/module.py", "keras_engine/metrics.py"} <= names
    assert set(ENGINE_CLASSES) <= names


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: p.relative_to(ENGINES).as_posix())
def test_no_engine_module_defines_or_computes_a_score(path):
    tree = _tree(path)
    scoring = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and SCORE_WORDS & set(re.split(r"_+", node.name.lower()))
    ]
    assert not scoring, f"{path.name} defines score functions {scoring}: use segtrain.metrics"
    arithmetic = sorted(_called_names(tree) & SCORE_ARITHMETIC)
    assert not arithmetic, f"{path.name} calls {arithmetic} on a matrix: use segtrain.metrics"


def test_the_keras_metric_result_is_segtrain_metrics_score():
    tree = _tree(ENGINES / "keras_engine" / "metrics.py")
    result = _function(tree, "ConfusionMatrixScore", "result")
    assert "scores_from_confusion" in _called_names(result)


def test_the_lightning_epoch_end_scores_with_segtrain_metrics():
    tree = _tree(ENGINES / "lightning_engine" / "module.py")
    epoch_end = _function(tree, "SegmentationModule", "on_validation_epoch_end")
    assert "scores_from_confusion" in _called_names(epoch_end)


def test_scores_from_confusion_is_only_ever_segtrain_metrics_own():
    for path in ENGINE_FILES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom):
                names = {a.name for a in node.names}
                if "scores_from_confusion" in names:
                    assert node.module == "segtrain.metrics", (path, node.module)


def _protocol_methods() -> set[str]:
    return {
        name for name, value in vars(Engine).items() if callable(value) and not name.startswith("_")
    }


@pytest.mark.parametrize("relative,cls", sorted(ENGINE_CLASSES.items()))
def test_each_engine_offers_exactly_the_protocol(relative, cls):
    tree = _tree(ENGINES / relative)
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    public = {
        item.name
        for item in node.body
        if isinstance(item, ast.FunctionDef) and not item.name.startswith("_")
    }
    assert _protocol_methods() == {"fit", "load", "confusion_matrix", "predict_batches"}
    assert public == _protocol_methods(), f"{cls} adds side doors {public - _protocol_methods()}"


def _tasks_use_only_the_protocol() -> dict[str, set[str]]:
    """Attributes the task modules read off an engine object (``engine.<attr>``)."""
    used: dict[str, set[str]] = {}
    for path in (ROOT / "segtrain").glob("*.py"):
        for node in ast.walk(_tree(path)):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "engine"
            ):
                used.setdefault(path.name, set()).add(node.attr)
    return used


def test_tasks_call_engines_only_through_the_protocol():
    used = _tasks_use_only_the_protocol()
    assert used, "no task calls an engine"
    for module, attrs in used.items():
        assert attrs <= _protocol_methods(), f"{module} uses engine.{attrs - _protocol_methods()}"


METRIC_NAMES = {
    *metric_log.STANDARD_METRICS,
    *metric_log.SCORES,
    *(metric_log.VAL_PREFIX + s for s in metric_log.SCORES),
} - {metric_log.EPOCH, metric_log.LR}  # "epoch"/"lr" are also plain config/state keys


def test_metric_names_are_written_only_in_metric_log():
    offenders = []
    for path in sorted((ROOT / "segtrain").rglob("*.py")):
        if path.name == "metric_log.py" or path.name == "config.py":
            continue  # config.py: the schema default of optimized_metric (a user value)
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Constant) and node.value in METRIC_NAMES:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not offenders, "metric names belong in segtrain.runtime.metric_log:\n" + "\n".join(
        offenders
    )
