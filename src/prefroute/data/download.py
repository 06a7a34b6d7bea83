"""A checksum-verified downloader for the registry of public data sources.

The sources and their files are listed in `prefroute.data._registry` (re-exported
here as `SOURCES`). `prefroute data download NAME|all` fetches each source's files
into the layout the loaders expect (``<dest>/<source folder>/...``). Files copied
unchanged into the reference data folder have a known sha256 (computed from those
copies) and are verified; files whose upstream version differs from the reference
copy (the ulab sources, filtered there of MMLU/GSM8K test items, and the full GSM8K
responses file) have no checksum and are only size-checked for being non-empty.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefroute.data._registry import DERIVED_SHA256, SOURCES, RemoteFile, Source
from prefroute.errors import DataError

__all__ = [
    "DERIVED_SHA256",
    "SOURCES",
    "DownloadResult",
    "RemoteFile",
    "Source",
    "download",
    "download_file",
    "download_source",
    "file_status",
    "get_source",
    "sha256_file",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16

ProgressCallback = Callable[[str, int, int | None], None]
"""Called as ``(relative_path, bytes_done, bytes_total_or_None)`` while downloading."""


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """Outcome for one file: "downloaded", "present" (verified, skipped)."""

    path: Path
    status: str
    sha256: str


def get_source(name: str) -> Source:
    """Look up a source by name.

    Raises:
        DataError: Unknown name (the message lists the known ones).
    """
    try:
        return SOURCES[name]
    except KeyError:
        raise DataError(
            f"unknown data source {name!r}; expected one of {sorted(SOURCES)} or 'all'"
        ) from None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_status(data_dir: Path, remote: RemoteFile, *, verify: bool = False) -> str:
    """State of one registry file under ``data_dir``.

    Args:
        data_dir: The data directory.
        remote: The registry entry.
        verify: Also compare the sha256 (reads the file).

    Returns:
        "missing", "present", "ok" (sha256 verified), "unverified" (no known
        sha256) or "mismatch".
    """
    path = data_dir / remote.path
    if not path.is_file():
        return "missing"
    if not verify:
        return "present"
    if remote.sha256 is None:
        return "unverified"
    return "ok" if sha256_file(path) == remote.sha256 else "mismatch"


def download_file(
    remote: RemoteFile,
    dest: Path,
    *,
    client: Any = None,
    force: bool = False,
    on_progress: ProgressCallback | None = None,
) -> DownloadResult:
    """Fetch one file into ``dest / remote.path``, verifying its sha256.

    The body is streamed to ``<file>.part`` and renamed into place only after
    the checksum matched, so an interrupted or corrupt download never leaves a
    file the loaders would read.

    Args:
        remote: The registry entry.
        dest: The data directory.
        client: An ``httpx.Client`` to reuse (one is made when None).
        force: Download even when a verified copy is present.
        on_progress: Progress callback.

    Returns:
        What happened.

    Raises:
        DataError: HTTP failure, empty body or sha256 mismatch (the message gives
            both digests and the URL).
    """
    import httpx

    target = dest / remote.path
    if target.is_file() and not force:
        digest = sha256_file(target)
        if remote.sha256 is None or digest == remote.sha256:
            return DownloadResult(target, "present", digest)
        logger.info("%s: checksum differs, downloading again", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    own_client = client is None
    http = httpx.Client(follow_redirects=True, timeout=60.0) if own_client else client
    digest_obj = hashlib.sha256()
    done = 0
    try:
        with http.stream("GET", remote.url) as response:
            if response.status_code != 200:
                raise DataError(
                    f"download of {remote.url} failed: HTTP {response.status_code}"
                )
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else remote.size
            with part.open("wb") as handle:
                for chunk in response.iter_bytes(_CHUNK):
                    handle.write(chunk)
                    digest_obj.update(chunk)
                    done += len(chunk)
                    if on_progress is not None:
                        on_progress(remote.path, done, total)
    except httpx.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise DataError(f"download of {remote.url} failed: {exc}") from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    finally:
        if own_client:
            http.close()
    digest = digest_obj.hexdigest()
    if done == 0:
        part.unlink(missing_ok=True)
        raise DataError(f"download of {remote.url} returned an empty body")
    if remote.sha256 is not None and digest != remote.sha256:
        part.unlink(missing_ok=True)
        raise DataError(
            f"sha256 mismatch for {remote.url}: expected {remote.sha256}, got "
            f"{digest}; the file was not saved"
        )
    os.replace(part, target)
    return DownloadResult(target, "downloaded", digest)


def download_source(
    source: Source,
    dest: Path,
    *,
    client: Any = None,
    force: bool = False,
    on_progress: ProgressCallback | None = None,
) -> list[DownloadResult]:
    """Fetch every file of a source (see `download_file`).

    Args:
        source: The source.
        dest: The data directory.
        client: An ``httpx.Client`` to reuse.
        force: Re-download verified files too.
        on_progress: Progress callback.

    Returns:
        One result per file.

    Raises:
        DataError: The first file that fails.
    """
    import httpx

    own_client = client is None
    http = httpx.Client(follow_redirects=True, timeout=60.0) if own_client else client
    try:
        return [
            download_file(f, dest, client=http, force=force, on_progress=on_progress)
            for f in source.files
        ]
    finally:
        if own_client:
            http.close()


def download(
    name: str,
    dest: Path,
    *,
    force: bool = False,
    on_progress: ProgressCallback | None = None,
) -> list[DownloadResult]:
    """Fetch a named source, or "all" of them, into ``dest``.

    Args:
        name: A key of `SOURCES` or "all".
        dest: The data directory (created when missing).
        force: Re-download verified files too.
        on_progress: Progress callback.

    Returns:
        One result per file.

    Raises:
        DataError: Unknown source or a failed download.
    """
    sources = list(SOURCES.values()) if name == "all" else [get_source(name)]
    dest.mkdir(parents=True, exist_ok=True)
    results: list[DownloadResult] = []
    for source in sources:
        results.extend(
            download_source(source, dest, force=force, on_progress=on_progress)
        )
    return results
