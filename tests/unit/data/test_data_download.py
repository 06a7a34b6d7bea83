"""Downloader against a real HTTP server on 127.0.0.1 (never the internet), the
source registry, and the `prefroute data` CLI."""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefroute.cli import build_app
from prefroute.data import download as dl
from prefroute.data.download import (
    SOURCES,
    RemoteFile,
    Source,
    download_file,
    download_source,
    file_status,
    get_source,
)
from prefroute.errors import ConfigError, DataError

PAYLOAD = b"prompt,gpt-4-1106-preview\nhello,True\n" * 50


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file.csv").write_bytes(PAYLOAD)
    (root / "other.json").write_bytes(b"[]")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_verified_file(served: str, tmp_path: Path) -> None:
    remote = RemoteFile(served + "sub/file.csv", "src/a/file.csv", _sha(PAYLOAD))
    dest = tmp_path / "data"
    seen: list[int] = []
    result = download_file(remote, dest, on_progress=lambda p, d, t: seen.append(d))
    assert result.status == "downloaded"
    assert (dest / "src/a/file.csv").read_bytes() == PAYLOAD
    assert seen[-1] == len(PAYLOAD)


def test_download_skips_verified_copy(served: str, tmp_path: Path) -> None:
    remote = RemoteFile(served + "sub/file.csv", "f.csv", _sha(PAYLOAD))
    download_file(remote, tmp_path)
    assert download_file(remote, tmp_path).status == "present"
    assert download_file(remote, tmp_path, force=True).status == "downloaded"


def test_download_sha_mismatch_leaves_nothing(served: str, tmp_path: Path) -> None:
    remote = RemoteFile(served + "sub/file.csv", "f.csv", "0" * 64)
    with pytest.raises(DataError, match=r"sha256 mismatch.*expected 0000"):
        download_file(remote, tmp_path)
    assert not (tmp_path / "f.csv").exists()
    assert not (tmp_path / "f.csv.part").exists()


def test_download_replaces_corrupt_copy(served: str, tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_bytes(b"corrupt")
    remote = RemoteFile(served + "sub/file.csv", "f.csv", _sha(PAYLOAD))
    assert download_file(remote, tmp_path).status == "downloaded"
    assert (tmp_path / "f.csv").read_bytes() == PAYLOAD


def test_download_http_error(served: str, tmp_path: Path) -> None:
    remote = RemoteFile(served + "missing.csv", "m.csv", None)
    with pytest.raises(DataError, match="HTTP 404"):
        download_file(remote, tmp_path)
    assert not (tmp_path / "m.csv").exists()


def test_download_unreachable_server(tmp_path: Path) -> None:
    remote = RemoteFile("http://127.0.0.1:9/x.csv", "x.csv", None)
    with pytest.raises(
        DataError, match=re.escape("download of http://127.0.0.1:9/x.csv failed")
    ):
        download_file(remote, tmp_path)


def test_download_source_places_layout(served: str, tmp_path: Path) -> None:
    source = Source(
        name="local",
        description="test",
        license="none",
        homepage="",
        files=(
            RemoteFile(served + "sub/file.csv", "local/a/file.csv", _sha(PAYLOAD)),
            RemoteFile(served + "other.json", "local/other.json", None),
        ),
    )
    results = download_source(source, tmp_path)
    assert [r.status for r in results] == ["downloaded", "downloaded"]
    assert file_status(tmp_path, source.files[0], verify=True) == "ok"
    assert file_status(tmp_path, source.files[1], verify=True) == "unverified"


def _local_source(served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = Source(
        "local",
        "test",
        "none",
        "",
        (RemoteFile(served + "sub/file.csv", "local/f.csv", _sha(PAYLOAD)),),
    )
    monkeypatch.setitem(dl.SOURCES, "local", source)


def test_cli_download_into_data_dir(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _local_source(served, monkeypatch)
    result = CliRunner().invoke(
        build_app(), ["data", "download", "local", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "1 file(s) downloaded" in result.output
    assert "deprecated" not in result.output
    assert (tmp_path / "local/f.csv").read_bytes() == PAYLOAD


def test_cli_download_defaults_to_the_env_data_dir(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _local_source(served, monkeypatch)
    monkeypatch.setenv("PREFROUTE_DATA_DIR", str(tmp_path / "env"))
    result = CliRunner().invoke(build_app(), ["data", "download", "local"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env" / "local/f.csv").read_bytes() == PAYLOAD


def test_cli_download_dest_still_works_with_a_warning(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _local_source(served, monkeypatch)
    result = CliRunner().invoke(
        build_app(), ["data", "download", "local", "--dest", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "--dest is deprecated" in result.output and "--data-dir" in result.output
    assert (tmp_path / "local/f.csv").read_bytes() == PAYLOAD
    both = CliRunner().invoke(
        build_app(),
        ["data", "download", "local", "--dest", "a", "--data-dir", str(tmp_path)],
    )
    assert isinstance(both.exception, ConfigError)
    help_text = CliRunner().invoke(build_app(), ["data", "download", "--help"])
    assert "--dest" not in help_text.output


def test_unknown_source_lists_known() -> None:
    with pytest.raises(DataError, match="routellm-evals"):
        get_source("nope")


def test_registry_paths_unique_and_relative() -> None:
    paths = [f.path for s in SOURCES.values() for f in s.files]
    assert len(paths) == len(set(paths))
    assert all(not p.startswith("/") and ".." not in p for p in paths)
    assert all(f.url.startswith("https://") for s in SOURCES.values() for f in s.files)


def test_registry_checksums_match_reference_copies(data_dir: Path) -> None:
    states = [
        file_status(data_dir, f, verify=True) for s in SOURCES.values() for f in s.files
    ]
    assert "mismatch" not in states
    assert states.count("ok") >= 85


def test_registry_layout_is_what_loaders_read(data_dir: Path) -> None:
    mmlu = [f for f in get_source("routellm-evals").files if "/responses/" in f.path]
    assert len(mmlu) == 57
    assert all((data_dir / f.path).is_file() for f in mmlu)


def test_cli_check_prints_known_figures(data_dir: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["data", "check", "--data-dir", str(data_dir)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "14,037 prompts, strong 0.8059, weak 0.6809" in result.output
    assert "72 prompts, strong 9.212, weak 8.281" in result.output


def test_cli_check_reports_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["data", "check", "--data-dir", str(tmp_path)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "prefroute data download routellm-evals" in result.output


def test_cli_check_fails_on_malformed(tmp_path: Path) -> None:
    folder = tmp_path / "routerbench"
    folder.mkdir()
    (folder / "x_train.csv").write_text("prompt,eval_name,m1\np,t,maybe\n")
    result = CliRunner().invoke(
        build_app(), ["data", "check", "--data-dir", str(tmp_path)], terminal_width=200
    )
    assert result.exit_code == 1
    assert "error" in result.output


def test_entry_point_exits_with_the_commands_code(tmp_path: Path) -> None:
    # Through `prefroute` itself (main(), not CliRunner): a command ending in
    # typer.Exit(1) must make the process exit 1, not 0.
    folder = tmp_path / "routerbench"
    folder.mkdir()
    (folder / "x_train.csv").write_text("prompt,eval_name,m1\np,t,maybe\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from prefroute.cli import main; main()",
            "data",
            "check",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "error" in proc.stdout and "Traceback" not in proc.stderr


def test_cli_list_shows_sources(data_dir: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["data", "list", "--data-dir", str(data_dir)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    for name in SOURCES:
        assert name in result.output
    assert "62/63" in result.output or "63/63" in result.output
