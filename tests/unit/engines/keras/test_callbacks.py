"""Checkpoint callbacks (backup with fallback, best/last weights, the stop-signal check)
and the metric line."""

from __future__ import annotations

import json
import logging
import os
import signal

import keras
import numpy as np
import pytest

from segtrain.engines.keras_engine.backup import (
    EpochBackup,
    LoopBackup,
    StopOnSignal,
    backup_epochs,
)
from segtrain.engines.keras_engine.callbacks import (
    BestAndLastWeights,
    MetricLine,
    atomic_save_weights,
    backup_epoch,
)
from segtrain.engines.keras_engine.cluster import Cluster
from segtrain.errors import CheckpointError
from segtrain.runtime.lifecycle import StopSignals, StopTraining
from segtrain.runtime.metric_log import parse_metric_lines


class Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch: int):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt("simulated kill")


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


X = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
Y = np.zeros((16, 2), "float32")


def _backup(path) -> LoopBackup:
    return LoopBackup(path, Cluster())


def test_backup_resumes_at_the_saved_epoch_with_optimizer_state(tmp_path):
    backup = tmp_path / "backup"
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, epochs=5, verbose=0, callbacks=[EpochBackup(_backup(backup)), Interrupt(2)])
    assert backup_epoch(backup) == 2
    assert backup_epochs(backup / "latest.weights.h5") == 2
    assert backup_epochs(backup / "previous.weights.h5") == 1
    saved_steps = int(model.optimizer.iterations)

    again = _model()
    assert _backup(backup).restore(again) == 2
    seen = []
    again.fit(
        X,
        Y,
        initial_epoch=2,
        epochs=5,
        verbose=0,
        callbacks=[
            EpochBackup(_backup(backup)),
            keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e)),
        ],
    )
    assert seen == [2, 3, 4]
    assert int(again.optimizer.iterations) == saved_steps + 3 * 1  # one batch per epoch
    assert backup_epoch(backup) == 5
    # only the final names remain: every write went through a renamed temp file
    assert sorted(p.name for p in backup.iterdir()) == [
        "latest.weights.h5",
        "previous.weights.h5",
        "training_metadata.json",
    ]


def test_a_corrupt_backup_falls_back_to_the_previous_one(tmp_path, caplog):
    backup = tmp_path / "backup"
    model = _model()
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[EpochBackup(_backup(backup))])
    latest = backup / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:300])
    with caplog.at_level(logging.WARNING):
        assert _backup(backup).restore(_model()) == 2
    assert f"Checkpoint {latest} cannot be loaded" in caplog.text
    assert (backup / "latest.weights.h5.unreadable").exists()
    previous = backup / "previous.weights.h5"
    previous.write_bytes(b"not hdf5")
    with pytest.raises(CheckpointError, match="no loadable checkpoint"):
        _backup(backup).restore(_model())
    assert _backup(tmp_path / "none").restore(_model()) is None


class SignalAt(keras.callbacks.Callback):
    """Sends this process SIGTERM at one training step (as SageMaker would)."""

    def __init__(self, epoch: int, batch: int):
        super().__init__()
        self.at, self.epoch = (epoch, batch), -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_stops_at_the_next_step_and_abandons_the_partial_epoch(tmp_path):
    backup = tmp_path / "backup"
    model = _model()
    seen: list[int] = []
    with StopSignals() as stop, pytest.raises(StopTraining):
        model.fit(
            X,
            Y,
            epochs=5,
            batch_size=4,  # 4 steps per epoch
            verbose=0,
            callbacks=[
                SignalAt(1, 1),
                EpochBackup(_backup(backup)),
                StopOnSignal(stop),
                keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e)),
            ],
        )
    assert stop.name == "SIGTERM"
    assert int(model.optimizer.iterations) == 4 + 2  # epoch 1 stopped after its 2nd step
    assert seen == [0] and backup_epoch(backup) == 1  # only the complete epoch is saved


def test_no_backup_means_epoch_none(tmp_path):
    assert backup_epoch(tmp_path / "missing") is None


def test_best_is_kept_across_a_restart_and_last_is_always_written(tmp_path):
    model = _model()
    cb = BestAndLastWeights(tmp_path, "val_mIoU", "max")
    cb.set_model(model)
    cb.on_epoch_end(0, {"val_mIoU": 0.4})
    cb.on_epoch_end(1, {"val_mIoU": 0.3})
    assert json.loads((tmp_path / "best.json").read_text())["epoch"] == 1
    assert (tmp_path / "last.weights.h5").is_file() and (tmp_path / "best.weights.h5").is_file()

    restarted = BestAndLastWeights(tmp_path, "val_mIoU", "max")
    assert restarted.best == pytest.approx(0.4)
    restarted.set_model(model)
    restarted.on_epoch_end(2, {"val_mIoU": 0.35})
    assert json.loads((tmp_path / "best.json").read_text())["value"] == pytest.approx(0.4)
    restarted.on_epoch_end(3, {"val_mIoU": float("nan")})
    assert json.loads((tmp_path / "best.json").read_text())["epoch"] == 1


def test_atomic_save_leaves_no_temp_file_and_loads_back(tmp_path):
    model = _model()
    path = atomic_save_weights(model, tmp_path / "w.weights.h5")
    assert [p.name for p in tmp_path.iterdir()] == ["w.weights.h5"]
    other = _model()
    other.load_weights(str(path))
    np.testing.assert_array_equal(other.get_weights()[0], model.get_weights()[0])


def test_metric_line_has_the_standard_names_and_parses(tmp_path, capsys):
    model = _model()
    line = MetricLine(images_per_epoch=16)
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[line], validation_data=(X, Y))
    rows = parse_metric_lines(capsys.readouterr().out)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"train_loss", "val_loss", "lr", "throughput"} <= set(rows[0])
    assert rows[0]["lr"] == pytest.approx(0.01)
    assert rows[0]["throughput"] > 0
    assert line.history[1]["epoch"] == 2
