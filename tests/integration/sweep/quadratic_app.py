"""A tiny Hydra app for sweeper tests: maximum 1.0 at x=2, y=b; fails for x < -1."""

from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore


@dataclass
class Quadratic:
    x: float = 0.0
    y: str = "a"


ConfigStore.instance().store(name="quadratic", node=Quadratic)


@hydra.main(version_base="1.3", config_path=None, config_name="quadratic")
def main(cfg: Quadratic) -> float:
    if cfg.x < -1:
        raise ValueError(f"x={cfg.x} is outside the valid region")
    return -((cfg.x - 2.0) ** 2) + (1.0 if cfg.y == "b" else 0.0)


if __name__ == "__main__":
    main()
