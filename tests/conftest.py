"""Shared test fixtures. The shared reference folder sits beside the checkout (../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HCDOCTOR_SHARED", ROOT.parent / "shared"))


@pytest.fixture(autouse=True, scope="session")
def _private_index_dir(tmp_path_factory):
    """Every test session builds its own search index, never touching a user's cache."""
    os.environ["HCDOCTOR_INDEX_DIR"] = str(tmp_path_factory.mktemp("index"))
    yield
