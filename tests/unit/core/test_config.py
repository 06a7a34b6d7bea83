"""Data-directory resolution and its error message."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefroute.config import resolve_data_dir
from prefroute.errors import DataError


def test_explicit_data_dir_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFROUTE_DATA_DIR", "/nonexistent")
    assert resolve_data_dir(tmp_path) == tmp_path


def test_env_data_dir_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFROUTE_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path


def test_missing_data_dir_says_how_to_get_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFROUTE_DATA_DIR", "/nonexistent/prefroute-data")
    with pytest.raises(DataError, match="prefroute data download"):
        resolve_data_dir()
