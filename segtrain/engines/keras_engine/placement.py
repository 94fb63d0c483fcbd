"""``trainer.stage_devices`` -> the device of each ENet stage (model parallelism).

Accepted forms of ``trainer.stage_devices`` (see :data:`segtrain.models.enet.STAGES`):

- empty (default): the encoder (initial block, stages 1-3) on device 0 and the decoder
  (stages 4, 5 and the full convolution) on device 1, the paper's encoder/decoder split;
- 7 entries: one per stage ``initial, stage1, stage2, stage3, stage4, stage5, fullconv``;
- 5 entries: one per numbered stage 1-5, the initial block going with stage 1 and the
  full convolution with stage 5 (``["/CPU:0","/CPU:0","/CPU:1","/CPU:1","/CPU:1"]``).

An entry is a device name (``/CPU:1``, ``/GPU:0``) or an index into the local devices
of ``hardware.accelerator``. On CPU the devices are logical (see
:mod:`segtrain.engines.keras_engine.devices`), as many as ``hardware.devices`` or the
highest index named, at least 2 for the default split.
"""

from __future__ import annotations

import re
from typing import Any

from segtrain.engines.keras_engine.devices import local_devices
from segtrain.errors import ConfigError
from segtrain.models.enet import STAGES

_NUMBERED = ("stage1", "stage1", "stage2", "stage3", "stage4", "stage5", "stage5")
_DEVICE = re.compile(r"^/?(?:device:)?(CPU|GPU):(\d+)$", re.IGNORECASE)


def _parse(entry: Any, kind: str) -> tuple[str, int]:
    text = str(entry).strip()
    if text.isdigit():
        return kind, int(text)
    match = _DEVICE.match(text)
    if not match:
        raise ConfigError(
            f"trainer.stage_devices entry {entry!r}: expected a device like /CPU:1 or /GPU:0, "
            "or a device index"
        )
    found = match.group(1).lower()
    if found != kind:
        raise ConfigError(f"trainer.stage_devices names {text} but hardware.accelerator is {kind}")
    return found, int(match.group(2))


def stage_devices(cfg: Any, kind: str) -> dict[str, str]:
    """Stage name -> device name, creating logical CPU devices when needed."""
    entries = list(cfg.trainer.stage_devices)
    configured = max(int(cfg.hardware.devices), 1)
    if not entries:
        indices = [0, 0, 0, 0, 1, 1, 1]
        count = max(configured, 2) if kind == "cpu" else configured
        indices = [min(i, count - 1) for i in indices]
    else:
        if len(entries) == 5:
            by_stage = dict(zip(_NUMBERED[1:6], entries, strict=True))
            entries = [by_stage[s] for s in _NUMBERED]
        if len(entries) != len(STAGES):
            raise ConfigError(
                f"trainer.stage_devices has {len(entries)} entries; expected 7 (one per stage "
                f"{', '.join(STAGES)}), 5 (one per numbered stage) or none (encoder on device "
                "0, decoder on device 1)"
            )
        indices = [_parse(e, kind)[1] for e in entries]
        count = max(configured, max(indices) + 1) if kind == "cpu" else configured
        if max(indices) >= count:
            raise ConfigError(
                f"trainer.stage_devices uses {kind} device {max(indices)} but "
                f"hardware.devices={configured}"
            )
    devices = local_devices(kind, count)
    return {stage: devices[i] for stage, i in zip(STAGES, indices, strict=True)}
