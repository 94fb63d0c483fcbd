"""Where the Hydra config tree lives.

In a source checkout (editable install) it is the top-level ``configs/`` directory; in
a wheel it is shipped as package data under ``segtrain/configs``. Both are looked up so
``segtrain`` works either way, and ``SEGTRAIN_CONFIG_DIR`` overrides them for users who
keep their own tree.
"""

from __future__ import annotations

import os
from pathlib import Path

from segtrain.errors import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parent


def config_dir() -> Path:
    override = os.environ.get("SEGTRAIN_CONFIG_DIR")
    candidates = [Path(override)] if override else []
    candidates += [_PACKAGE_DIR / "configs", _PACKAGE_DIR.parent / "configs"]
    for candidate in candidates:
        if (candidate / "train.yaml").is_file():
            return candidate.resolve()
    raise ConfigError(
        "segtrain's config tree was not found; looked for train.yaml in "
        + ", ".join(str(c) for c in candidates)
    )
