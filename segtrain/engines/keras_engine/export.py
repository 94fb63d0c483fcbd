"""The final model: model.keras + SavedModel + metadata, from any trained ENet.

The exported model is a float32, uncompiled, one-graph ENet for any input size
divisible by 8, whatever trained it (mixed precision, a tf.distribute strategy, or the
stage-split model of ``trainer=model_parallel``): weights move into it by layer name.
Only the chief calls this; the copy is built outside every strategy scope, so exporting
involves no collective op that other workers would have to join.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
from omegaconf import DictConfig

from segtrain.engines.keras_engine.hardware import dtype_policy
from segtrain.models.enet import build_enet
from segtrain.models.enet_split import copy_weights_by_layer
from segtrain.runtime.artifacts import WEIGHT_FILES, ClassInfo, write_metadata
from segtrain.runtime.checkpoints import TMP_PREFIX, clean_partial, replace_directory

log = logging.getLogger(__name__)

SAVED_MODEL_DIR = "saved_model"


def _atomic_replace_dir(build: Any, final: Path) -> None:
    """Build a directory under a temporary name, then swap it in for ``final``."""
    tmp = final.parent / f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}.{final.name}"
    try:
        build(tmp)
        replace_directory(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _inference_copy(model: keras.Model, num_classes: int) -> keras.Model:
    """A float32, uncompiled ENet for any size divisible by 8 with ``model``'s weights."""
    with dtype_policy("float32"):
        copy = build_enet(num_classes, name=model.name)
    copy_weights_by_layer(model, copy)
    return copy


def export_model(
    model: keras.Model, num_classes: int, cfg: DictConfig, classes: ClassInfo, model_dir: Path
) -> None:
    """model.keras + SavedModel + config.yaml + classes.json into ``model_dir``."""
    model_dir.mkdir(parents=True, exist_ok=True)
    clean_partial(model_dir)
    final = _inference_copy(model, num_classes)
    keras_file = model_dir / WEIGHT_FILES["keras"]
    tmp = model_dir / f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}.{keras_file.name}"
    try:
        final.save(str(tmp))
        os.replace(tmp, keras_file)
    finally:
        tmp.unlink(missing_ok=True)
    _atomic_replace_dir(lambda p: final.export(str(p), verbose=False), model_dir / SAVED_MODEL_DIR)
    write_metadata(model_dir, cfg, classes)
    log.info("Final model written to %s (model.keras, %s/)", model_dir, SAVED_MODEL_DIR)
