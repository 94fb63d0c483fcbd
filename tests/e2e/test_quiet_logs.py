"""Library noise is off by default and back with ``verbose=true`` (runtime/noise.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from segtrain.runtime import noise
from tests.e2e.test_train_cli import TINY, segtrain

NOISE = re.compile(
    r"GPU available:|TPU available:|litlogger|tensorboardX|does not have many workers"
    r"|smaller than the logging interval|to estimate number of stepping batches"
    r"|oneDNN custom operations|absl::InitializeLog"
)


def test_a_one_epoch_torch_run_prints_no_known_noise_and_verbose_brings_it_back(tmp_path):
    args = [*(o for o in TINY if o != "logger=none"), "trainer.max_epochs=1"]
    quiet = segtrain("train", *args, "hydra.run.dir=quiet", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "[metrics] epoch=1" in quiet.stdout
    assert not NOISE.findall(quiet.stdout + quiet.stderr), quiet.stdout + quiet.stderr
    loud = segtrain("train", *args, "verbose=true", "hydra.run.dir=loud", cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr[-2000:]
    assert "GPU available:" in loud.stdout + loud.stderr


def test_native_lines_are_filtered_on_fd_2_and_others_pass():
    code = (
        "import os\n"
        "from segtrain.runtime import noise\n"
        "noise.configure(verbose={verbose})\n"
        "with noise.native_start_up_filtered():\n"
        "    os.write(2, b'I0000 00:00:1.2 6788 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "    os.write(2, b'a real problem\\n')\n"
        "os.write(2, b'after\\n')\n"
    )
    for verbose in (False, True):
        out = subprocess.run(
            [sys.executable, "-c", code.format(verbose=verbose)],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ,
        )
        assert out.returncode == 0, out.stderr
        assert "a real problem\n" in out.stderr and out.stderr.endswith("after\n")
        assert ("oneDNN" in out.stderr) is verbose


def test_configure_sets_tensorflow_log_level_only_where_unset(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    noise.configure(verbose=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    noise.configure(verbose=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    noise.configure(verbose=False)
