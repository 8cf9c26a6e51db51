"""The wheel carries the lab's content (exercises, sample apps, cluster manifests and vendored CRDs)
inside the package, as lab/_content: an installed lab has no checkout beside it (lab/config.py
reads the content from there). An editable install reads the checkout itself. Everything else
about the package is in pyproject.toml; MANIFEST.in puts the same folders in the sdist."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONTENT = ("apps", "exercises", "cluster")   # lab/config.py: APPS_DIR, EXERCISES_DIR, CLUSTER_DIR


class BuildWithContent(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        content = Path(self.build_lib) / "lab" / "_content"
        shutil.rmtree(content, ignore_errors=True)   # what left the checkout leaves the wheel too (build/ stays)
        for name in CONTENT:
            shutil.copytree(name, content / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithContent})
