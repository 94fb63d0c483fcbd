"""Ships the top-level Hydra tree ``configs/`` inside the wheel as ``segtrain/configs``.

Everything else is declared in pyproject.toml. In an editable install nothing is copied:
``segtrain._configs`` finds ``configs/`` beside the package instead.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConfigs(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "segtrain" / "configs"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(Path(__file__).parent / "configs", target,
                        ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithConfigs})
