"""runtime.lifecycle: ownership stamps, finished-run records, rotation with fallback,
sanitised load errors and the SIGTERM/SIGINT stop request (no framework imported)."""

from __future__ import annotations

import json
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from segtrain.errors import CheckpointError, RunInterrupted
from segtrain.runtime import lifecycle as lc
from segtrain.runtime.lifecycle import RunOwner

DEEPLAB = RunOwner("deeplabv3/mobilenet_v3_large", "torch", "synthetic", 11)
ENET = RunOwner("enet", "keras", "synthetic", 11)


def test_owner_from_config_names_the_backbone_only_where_there_is_one():
    cfg = {"model": {"name": "deeplabv3", "framework": "torch", "backbone": "resnet50"}}
    cfg["dataset"] = {"name": "camvid"}
    assert RunOwner.from_config(cfg, 12) == RunOwner("deeplabv3/resnet50", "torch", "camvid", 12)
    enet = {"model": {"name": "enet", "framework": "keras", "backbone": "none"}}
    enet["dataset"] = {"name": "synthetic"}
    assert RunOwner.from_config(enet, 11) == ENET


def test_claim_stamps_a_new_dir_and_accepts_its_own_run(tmp_path):
    lc.claim_directory(tmp_path, DEEPLAB, write=True)
    assert json.loads((tmp_path / lc.OWNER_FILE).read_text())["framework"] == "torch"
    before = (tmp_path / lc.OWNER_FILE).stat().st_mtime_ns
    lc.claim_directory(tmp_path, DEEPLAB, write=True)  # same owner: nothing rewritten
    assert (tmp_path / lc.OWNER_FILE).stat().st_mtime_ns == before


def test_a_dir_of_another_model_is_refused_naming_whose_it_is(tmp_path):
    lc.claim_directory(tmp_path, ENET, write=True)
    with pytest.raises(CheckpointError) as err:
        lc.claim_directory(tmp_path, DEEPLAB, write=True)
    message = str(err.value)
    assert "holds the checkpoints of an ENet (Keras) run on synthetic (11 classes)" in message
    assert "different model, framework" in message
    assert json.loads((tmp_path / lc.OWNER_FILE).read_text())["model"] == "enet"


def test_another_dataset_or_class_count_is_refused(tmp_path):
    lc.claim_directory(tmp_path, DEEPLAB, write=True)
    for other in (
        RunOwner(DEEPLAB.model, "torch", "camvid", 11),
        RunOwner(DEEPLAB.model, "torch", "synthetic", 12),
    ):
        with pytest.raises(CheckpointError, match=r"different (dataset|num_classes)"):
            lc.claim_directory(tmp_path, other, write=False)


def test_an_unstamped_dir_is_judged_by_its_config_or_files(tmp_path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "config.yaml").write_text(
        "model: {name: enet, framework: keras, backbone: none}\ndataset: {name: synthetic}\n"
    )
    with pytest.raises(CheckpointError, match=r"an ENet \(Keras\) run on synthetic;"):
        lc.claim_directory(legacy, DEEPLAB, write=True)
    assert not (legacy / lc.OWNER_FILE).exists()
    keras_files = tmp_path / "files"
    (keras_files / "backup").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="a run of the Keras engine"):
        lc.claim_directory(keras_files, DEEPLAB, write=False)
    torch_files = tmp_path / "torch"
    torch_files.mkdir()
    (torch_files / "last.ckpt").write_bytes(b"x")
    lc.claim_directory(torch_files, DEEPLAB, write=False)  # unknown dataset: not refused
    with pytest.raises(CheckpointError):
        lc.claim_directory(torch_files, ENET, write=False)


@dataclass
class _Result:
    metrics: dict
    model_dir: Path
    epochs_completed: int
    resumed_from: Path | None = None
    confusion: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)


def test_finished_record_is_reported_only_when_it_covers_the_plan(tmp_path):
    model_file = tmp_path / "model" / "model.pt"
    confusion = np.array([[3, 1], [0, 2]])
    result = _Result(
        {"val_mIoU": 0.5}, model_file.parent, 4, tmp_path / "last.ckpt", confusion, ["a", "b"]
    )
    assert lc.finished_result(tmp_path, 4, model_file) is None
    lc.mark_finished(tmp_path, result)
    assert lc.finished_result(tmp_path, 4, model_file) is None  # model not exported here
    model_file.parent.mkdir()
    model_file.write_bytes(b"weights")
    found = lc.finished_result(tmp_path, 4, model_file)
    assert found is not None and _Result(**{**found, "confusion": None}) == _Result(
        {"val_mIoU": 0.5}, model_file.parent, 4, tmp_path / "last.ckpt", None, ["a", "b"]
    )
    assert np.array_equal(found["confusion"], confusion)
    assert lc.finished_result(tmp_path, 3, model_file) is not None
    assert lc.finished_result(tmp_path, 6, model_file) is None  # more epochs asked for
    lc.start_over(tmp_path, [model_file])
    assert lc.finished_result(tmp_path, 4, model_file) is None
    assert not model_file.exists()


def test_rotation_keeps_the_replaced_last_as_previous(tmp_path):
    last, previous = tmp_path / "last.ckpt", tmp_path / "previous.ckpt"
    lc.rotate(last, previous)  # nothing yet: no-op
    last.write_text("epoch 1")
    lc.rotate(last, previous)
    last.write_text("epoch 2")
    lc.rotate(last, previous)
    assert previous.read_text() == "epoch 2" and not last.exists()
    shard_last, shard_prev = tmp_path / "d_last", tmp_path / "d_prev"
    for epoch in (1, 2):
        shard_last.mkdir()
        (shard_last / "shard").write_text(str(epoch))
        lc.rotate(shard_last, shard_prev)
    assert (shard_prev / "shard").read_text() == "2"


def _load_text(path):
    text = path.read_text()
    if not text.startswith("ok"):
        raise RuntimeError(
            "PytorchStreamReader failed reading zip archive: failed finding central directory"
        )
    return text


def test_an_unloadable_last_falls_back_with_a_warning_naming_it(tmp_path, caplog):
    last, previous = tmp_path / "last.ckpt", tmp_path / "previous.ckpt"
    last.write_text("truncat")
    previous.write_text("ok epoch 3")
    with caplog.at_level(logging.WARNING):
        found = lc.first_loadable([last, previous], _load_text)
    assert found == (previous, "ok epoch 3")
    assert str(last) in caplog.text and "truncated or corrupt" in caplog.text
    assert (tmp_path / "last.ckpt.unreadable").exists() and not last.exists()


def test_no_loadable_checkpoint_is_one_checkpoint_error(tmp_path):
    assert lc.first_loadable([tmp_path / "last.ckpt"], _load_text) is None  # first run
    (tmp_path / "last.ckpt").write_text("bad")
    with pytest.raises(CheckpointError, match=r"no loadable checkpoint.*last.ckpt.*resume=false"):
        lc.first_loadable([tmp_path / "last.ckpt"], _load_text, quarantine=False)
    assert (tmp_path / "last.ckpt").exists()


TORCH_REFUSAL = (
    "Weights only load failed. This file can still be loaded, to do so you have two options, "
    "do those steps only if you trust the source of the checkpoint. (1) In PyTorch 2.6, we "
    "changed the default value of the `weights_only` argument in `torch.load` from `False` "
    "to `True`. Re-running `torch.load` with `weights_only` set to `False` will likely "
    "succeed, but it can result in arbitrary code execution. Do it only if you got the file "
    "from a trusted source. (2) Alternatively, to load with `weights_only=True` please check "
    "the recommended steps in the following error message. WeightsUnpickler error: "
    "Unsupported global: GLOBAL posix.system was not an allowed global by default. Please "
    "use `torch.serialization.add_safe_globals([posix.system])` or the "
    "`torch.serialization.safe_globals([posix.system])` context manager to allowlist this "
    "global if you trust this class/function. Check the documentation of torch.load to "
    "learn more about types accepted by default with weights_only "
    "https://pytorch.org/docs/stable/generated/torch.load.html."
)


def test_the_safe_load_refusal_never_advises_weights_only_false(tmp_path):
    path = tmp_path / "last.ckpt"
    path.write_bytes(b"\x80\x04junk")
    reason = lc.load_error_reason(path, RuntimeError(TORCH_REFUSAL), expected="torch")
    assert "posix.system" in reason and "never runs code" in reason
    assert "False" not in reason and "trust" not in reason


def test_a_keras_file_where_torch_is_expected_says_what_it_is(tmp_path):
    weights = tmp_path / "last.weights.h5"
    weights.write_bytes(lc.HDF5_MAGIC + b"rest")
    assert lc.file_kind(weights) == "keras-weights"
    err = RuntimeError("[enforce fail at inline_container.cc:180] . file in archive is not")
    reason = lc.load_error_reason(weights, err, expected="torch")
    assert reason.startswith("this is an ENet (Keras) model")
    assert "inline_container" not in reason


def test_stop_signals_turn_sigterm_into_a_stop_request(caplog):
    before = signal.getsignal(signal.SIGTERM)
    with lc.StopSignals() as stop:
        stop.check()  # nothing yet
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.name == "SIGTERM"
        with pytest.raises(lc.StopTraining):
            stop.check()
        with pytest.raises(KeyboardInterrupt):  # a second signal: stop now
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before
    err = stop.interrupted(2, 5, None)
    assert isinstance(err, RunInterrupted) and err.exit_code == 143
    assert "starts from epoch 1" in str(err)
    saved = stop.interrupted(2, 5, "ckpt/last.ckpt")
    assert "2 of 5 epoch(s) are saved in ckpt/last.ckpt" in str(saved)
    assert "resume at epoch 3" in str(saved)


def test_interrupt_on_raises_keyboard_interrupt_at_once_and_sigint_exits_130():
    with lc.StopSignals(interrupt_on={signal.SIGINT}) as stop, pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    assert stop.interrupted(0, 3, None).exit_code == 130
