"""Multi-worker test helpers: free ports on 127.0.0.1 and worker processes started the
torchrun way (each TensorFlow worker listens on MASTER_PORT + its rank)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path


def free_ports(count: int) -> int:
    """A base port such that ``base .. base+count-1`` were free a moment ago."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no run of free ports on 127.0.0.1")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any cluster description, plus ``extra``."""
    drop = ("TF_CONFIG", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def run_workers(
    commands: list[list[str]], cwd: Path, timeout: int = 600
) -> list[subprocess.CompletedProcess]:
    """Start one process per command as the ranks of one job, torchrun-style
    (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), and wait for all."""
    base = free_ports(len(commands))
    procs = [
        subprocess.Popen(
            command,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=clean_env(
                RANK=str(rank),
                WORLD_SIZE=str(len(commands)),
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(base),
            ),
        )
        for rank, command in enumerate(commands)
    ]
    results = []
    try:
        for command, proc in zip(commands, procs, strict=True):
            stdout = proc.communicate(timeout=timeout)[0]
            results.append(subprocess.CompletedProcess(command, proc.returncode, stdout, ""))
    finally:
        for proc in procs:
            proc.kill()
    return results
