"""A Hydra app that outlives any short max runtime and exits 0 when SIGTERM arrives.

The worst case for reporting a timeout: the stopped process itself says "success".
"""

import signal
import sys
import time
from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore


@dataclass
class Stubborn:
    seconds: float = 120.0


ConfigStore.instance().store(name="stubborn", node=Stubborn)


@hydra.main(version_base="1.3", config_path=None, config_name="stubborn")
def main(cfg: Stubborn) -> float:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("stubborn job started", flush=True)
    time.sleep(cfg.seconds)
    return 1.0


if __name__ == "__main__":
    main()
