"""The registry's record types: a source and its files.

`prefroute.data._registry` lists the sources; this module only defines their shape and
builds file lists from (relative path, sha256, size) rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["GITHUB_RAW", "RemoteFile", "Source", "files_from_rows"]


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file of a source.

    Attributes:
        url: Where to fetch it.
        path: Destination relative to the data directory (the loaders' layout).
        sha256: Expected hex digest, or None when unknown.
        size: Expected size in bytes, or None when unknown.
    """

    url: str
    path: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """A public data source.

    Attributes:
        name: Registry name (``prefroute data download NAME``).
        description: What it holds and what prefroute uses it for.
        license: Licence of the data, as stated upstream.
        homepage: Upstream project.
        files: The files to fetch.
        note: Caveats (derived files, filtering, licences to check).
    """

    name: str
    description: str
    license: str
    homepage: str
    files: tuple[RemoteFile, ...]
    note: str = ""


def files_from_rows(
    base_url: str, folder: str, rows: Iterable[tuple[str, str | None, int | None]]
) -> tuple[RemoteFile, ...]:
    """`RemoteFile`s for rows of (path relative to `base_url`, sha256, size).

    Args:
        base_url: URL prefix of the rows' paths.
        folder: Destination folder in the data directory.
        rows: (relative path, sha256 or None, size or None) per file.

    Returns:
        One `RemoteFile` per row, fetched from ``base_url + path`` into ``folder/path``.
    """
    return tuple(
        RemoteFile(url=base_url + rel, path=f"{folder}/{rel}", sha256=sha, size=size)
        for rel, sha, size in rows
    )


#: Raw file host of GitHub repositories (commit-pinned URLs).
GITHUB_RAW = "https://raw.githubusercontent.com/"
