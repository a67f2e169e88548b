"""One precompiled header per test session (building it costs ~15 s of CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm2hls.dataset.toolchain import Builder


@pytest.fixture(scope="session")
def builder(tmp_path_factory) -> Builder:
    return Builder(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def seed_cache(builder):
    """``seed_cache(dir)`` links the session's precompiled header into a dataset's build cache."""
    def seed(cache: Path) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        if builder._pch_dir is not None:
            (cache / builder._pch_dir.name).symlink_to(builder._pch_dir)
    return seed
