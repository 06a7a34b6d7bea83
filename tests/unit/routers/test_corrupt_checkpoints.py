"""A damaged router folder fails with `ArtifactError` naming the file, never with an
exception from zipfile / zlib / json deep inside the loader."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prefroute.errors import ArtifactError, UnknownRouterError
from prefroute.routers import load_router
from prefroute.routers.registry import shipped_checkpoints

SHIPPED = Path(__file__).resolve().parents[3] / "src" / "prefroute" / "checkpoints"


def _damaged(tmp_path: Path, name: str, file: str, content: bytes | None) -> Path:
    folder = tmp_path / name
    shutil.copytree(SHIPPED / name, folder)
    if content is None:
        (folder / file).unlink()
    else:
        (folder / file).write_bytes(content)
    return folder


@pytest.mark.parametrize("name", sorted(shipped_checkpoints()))
def test_truncated_or_garbage_arrays_raise_artifact_error(
    tmp_path: Path, name: str
) -> None:
    original = (SHIPPED / name / "arrays.npz").read_bytes()
    for label, content in (("trunc", original[:300]), ("garbage", b"not a zip")):
        folder = _damaged(tmp_path / label, name, "arrays.npz", content)
        with pytest.raises(ArtifactError, match=r"arrays\.npz"):
            load_router(folder)


@pytest.mark.parametrize("name", sorted(shipped_checkpoints()))
def test_damaged_config_raises_a_prefroute_error(tmp_path: Path, name: str) -> None:
    folder = _damaged(tmp_path / "bad", name, "config.json", b'{"name": 5')
    with pytest.raises(ArtifactError, match=r"config\.json"):
        load_router(folder)
    folder = _damaged(tmp_path / "gone", name, "config.json", None)
    with pytest.raises(UnknownRouterError, match="not a router folder"):
        load_router(folder)
