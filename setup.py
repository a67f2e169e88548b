"""Package discovery (everything else is in pyproject.toml)."""

from setuptools import find_packages, setup

# templates/ lives at the top level but ships inside the wheel as llm2hls.templates.
setup(packages=find_packages("compiler") + ["llm2hls.templates"])
