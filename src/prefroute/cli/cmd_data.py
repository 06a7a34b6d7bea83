"""`prefroute data list|download|check`: fetch and validate the public data sources."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from prefroute.cli._options import DataDirOption, PrefrouteGroup
from prefroute.config import resolve_data_dir
from prefroute.errors import ConfigError, DataError
from prefroute.types import GoldenRecord

__all__ = ["register"]


@dataclass(frozen=True)
class _Check:
    name: str
    marker: str  # path under the data dir whose absence means "not downloaded"
    source: str
    run: Callable[[Path], tuple[str, bool]]  # -> (figures, matches known figures)


def _bench(
    name: str, expected: tuple[int, float, float], digits: int
) -> Callable[[Path], tuple[str, bool]]:
    def run(data_dir: Path) -> tuple[str, bool]:
        from prefroute.data.benchmarks import load_benchmark

        bench = load_benchmark(name, data_dir)
        strong = round(float(bench.strong_quality.mean()), digits)
        weak = round(float(bench.weak_quality.mean()), digits)
        text = f"{len(bench):,} prompts, strong {strong}, weak {weak}"
        ok = (len(bench), strong, weak) == expected
        if not ok:
            text += f" (paper setup: {expected[0]:,} / {expected[1]} / {expected[2]})"
        return text, ok

    return run


def _gsm8k(data_dir: Path) -> tuple[str, bool]:
    from prefroute.data.benchmarks import load_benchmark

    bench = load_benchmark("gsm8k", data_dir)
    strong = round(float(bench.strong_quality.mean()), 4)
    weak = round(float(bench.weak_quality.mean()), 4)
    note = " (25-row sample)" if len(bench) < 100 else ""
    return f"{len(bench):,} prompts{note}, strong {strong}, weak {weak}", True


def _count(
    loader: Callable[[Path], list[object]], unit: str
) -> Callable[[Path], tuple[str, bool]]:
    def run(data_dir: Path) -> tuple[str, bool]:
        return f"{len(loader(data_dir)):,} {unit}", True

    return run


def _expect(
    text: str, got: object, expected: object, reference: str
) -> tuple[str, bool]:
    """`text`, with the reference figures appended when `got` differs from them."""
    if got == expected:
        return text, True
    return f"{text} (reference: {reference})", False


def _alpaca_eval(data_dir: Path) -> tuple[str, bool]:
    from prefroute.data._io import read_jsonl
    from prefroute.data.battles import load_alpaca_eval

    n_battles = len(load_alpaca_eval(data_dir))
    compact = data_dir / "alpaca-eval" / "preferences_compact_all_present.jsonl"
    if not compact.is_file():
        return f"{n_battles:,} battles", True
    n_rows = n_unjudged = 0
    files: set[str] = set()
    for _, obj in read_jsonl(compact):
        n_rows += 1
        n_unjudged += obj.get("preference") is None
        files.add(str(obj.get("source_path", "")))
    text = (
        f"{n_rows:,} rows of {len(files)} annotation files; {n_battles:,} battles "
        f"({n_unjudged} without a verdict, {n_rows - n_unjudged - n_battles} of the "
        "placeholder generator)"
    )
    return _expect(
        text,
        (n_rows, len(files), n_battles),
        (108665, 135, 107796),
        "108,665 rows / 135 files / 107,796 battles",
    )


def _per_source(
    loader: Callable[[Path], list[GoldenRecord]],
    expected: dict[str, int],
    reference: str,
) -> Callable[[Path], tuple[str, bool]]:
    """Golden records per source file (``<family>/<file>``), against `expected`."""

    def run(data_dir: Path) -> tuple[str, bool]:
        records = loader(data_dir)
        counts: dict[str, int] = {}
        for r in records:
            key = r.source.split("/", 1)[-1]
            counts[key] = counts.get(key, 0) + 1
        text = f"{len(records):,} golden records: " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(counts.items())
        )
        return _expect(text, counts, expected, reference)

    return run


def _llmrouter(data_dir: Path) -> tuple[str, bool]:
    from prefroute.data.golden import load_llmrouter

    records = load_llmrouter(data_dir)
    n_train = sum(r.source == "llmrouter/train" for r in records)
    n_tasks = len({r.task for r in records if r.task})
    text = (
        f"{len(records):,} golden records (train {n_train:,}, test "
        f"{len(records) - n_train:,}), {n_tasks} tasks"
    )
    return _expect(
        text, (n_train, len(records) - n_train), (5400, 355), "5,400 + 355 rows"
    )


def _routeprofile(data_dir: Path) -> tuple[str, bool]:
    from prefroute.data.battles import load_routeprofile_pairs
    from prefroute.data.golden import load_routeprofile

    records = load_routeprofile(data_dir)
    n_models = len({m for r in records for m in r.scores})
    n_pairs = len(load_routeprofile_pairs(data_dir))
    text = f"{len(records):,} golden records ({n_models} models), {n_pairs:,} pairs"
    return _expect(text, (len(records), n_pairs), (455, 7570), "455 rows / 7,570 pairs")


def _gsm8k_train(data_dir: Path) -> tuple[str, bool]:
    from prefroute.data._io import as_str, read_jsonl

    path = data_dir / "gsm8k-train" / "train.jsonl"
    n = 0
    for lineno, obj in read_jsonl(path):
        as_str(obj, "question", f"{path}:{lineno}")
        as_str(obj, "answer", f"{path}:{lineno}")
        n += 1
    return _expect(f"{n:,} questions", n, 7473, "7,473")


def _elobench(data_dir: Path) -> tuple[str, bool]:
    from prefroute.data.elobench import (
        ELOBENCH_JOINED,
        load_elobench,
        read_elobench_rows,
    )

    base = data_dir / "elobench"
    rows = read_elobench_rows(data_dir)
    n_questions = len({r.question for r in rows})
    n_models = len({m for r in rows for m in (r.model_a, r.model_b)})
    n_ambiguous = sum(r.is_ambiguous for r in rows)
    n_battles = len(load_elobench(data_dir))
    strong, weak = "gpt-4-turbo", "gpt-35-turbo"
    n_strong = sum(strong in (r.model_a, r.model_b) for r in rows)
    cells = {"won": 0, "tie": 0, "lost": 0, "unjudged": 0}
    for r in rows:
        if {r.model_a, r.model_b} != {strong, weak}:
            continue
        if r.winner in ("", "invalid"):
            cells["unjudged"] += 1
        elif r.winner.startswith("tie"):
            cells["tie"] += 1
        else:
            won = (r.winner == "model_a") == (r.model_a == strong)
            cells["won" if won else "lost"] += 1
    text = (
        f"{len(rows):,} rows, {n_questions:,} questions, {n_models} models, "
        f"{n_battles:,} judged, {n_ambiguous} ambiguous; {strong} in {n_strong:,} "
        f"battles, vs {weak} {sum(cells.values())}: "
        + ", ".join(f"{k} {v}" for k, v in cells.items())
    )
    got: tuple[object, ...] = (
        len(rows),
        n_questions,
        n_models,
        n_ambiguous,
        n_strong,
        tuple(cells.values()),
    )
    expected: tuple[object, ...] = (45502, 10599, 23, 6, 7588, (681, 176, 24, 5))
    reference = (
        "45,502 rows / 10,599 questions / 23 models / 6 ambiguous; gpt-4-turbo in "
        "7,588, vs gpt-35-turbo won 681, tie 176, lost 24, unjudged 5"
    )
    if (base / ELOBENCH_JOINED).is_file() and (base / "raw").is_dir():
        # the raw result sets, joined here; the reference join drops overlap rows
        raw = read_elobench_rows(base / "raw")
        sizes: dict[str, int] = {}
        for r in raw:
            sizes[r.source] = sizes.get(r.source, 0) + 1
        text += (
            f"; raw join {len(raw):,} ("
            + " + ".join(f"{v:,}" for _, v in sorted(sizes.items()))
            + f"), {len(raw) - len(rows)} removed for overlap"
        )
        got += (len(raw) - len(rows), tuple(sorted(sizes.values())))
        expected += (18, (13515, 15893, 16112))
        reference += "; 18 removed, raw sets 13,515 / 16,112 / 15,893"
    return _expect(text, got, expected, reference)


def _accuracy(records: list[GoldenRecord], model: str) -> float:
    values = [r.scores[model] for r in records if model in r.scores]
    return round(sum(values) / len(values), 3) if values else float("nan")


def _gemini_benchmark(data_dir: Path) -> tuple[str, bool]:
    from prefroute.data.golden import load_gemini_benchmark

    records = load_gemini_benchmark(data_dir, canonical=True)
    strong, weak = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
    expected = {
        "svamp": (1000, 0.926, 0.75),
        "mawpsmultiarith": (600, 0.987, 0.922),
        "HumanEval": (164, 0.787, 0.445),
    }
    parts, ok = [], True
    for task in sorted({r.task for r in records}, key=str.lower):
        recs = [r for r in records if r.task == task]
        got = (len(recs), _accuracy(recs, strong), _accuracy(recs, weak))
        ok &= expected.get(task, got) == got
        rows = f"{len(recs):,}"
        if task == "ODEX":  # several rows per question, each with its own context
            questions = _odex_questions(data_dir)
            ok &= (len(recs), questions) == (439, 372)
            rows += f" ({questions} questions)"
        parts.append(f"{task} {rows} GPT-4 {got[1]:.3f} / Mixtral {got[2]:.3f}")
    return "; ".join(parts), ok


def _odex_questions(data_dir: Path) -> int:
    """Distinct ``question`` fields of ODEX's GPT-4 output file (0 when absent)."""
    from prefroute.data._io import as_str, read_jsonl

    path = data_dir / "gemini-benchmark/outputs/ODEX/gpt-4-turbo/output.jsonl"
    if not path.is_file():
        return 0
    return len({as_str(obj, "question", f"{path}:{n}") for n, obj in read_jsonl(path)})


def _crux(data_dir: Path) -> tuple[str, bool]:
    from prefroute.data.golden import load_crux

    records = load_crux(data_dir, canonical=True)
    models = {m for r in records for m in r.scores}
    n_scored = len({m for r in load_crux(data_dir, max_gap=None) for m in r.scores})
    strong, weak = "gpt-4-0314", "mistralai/Mixtral-8x7B-Instruct-v0.1"
    cells = {"both right": 0, "only GPT-4": 0, "only Mixtral": 0, "both wrong": 0}
    for r in records:
        s, w = r.scores.get(strong), r.scores.get(weak)
        if s is None or w is None:
            continue
        key = ("both right", "only GPT-4", "only Mixtral", "both wrong")[
            2 * (s < 1) + (w < 1)
        ]
        cells[key] += 1
    counts = tuple(cells.values())
    text = (
        f"{len(records):,} problems, {n_scored} models scored, {len(models)} "
        "validated; gpt-4-0314 vs Mixtral: "
        + ", ".join(f"{k} {v}" for k, v in cells.items())
    )
    return _expect(
        text,
        (len(records), n_scored, counts),
        (800, 51, (340, 256, 18, 186)),
        "800 problems / 51 models / 340, 256, 18, 186",
    )


def _checks() -> list[_Check]:
    from prefroute.data import golden

    return [
        _Check(
            "mmlu",
            "routellm-evals/mmlu",
            "routellm-evals",
            _bench("mmlu", (14037, 0.8059, 0.6809), 4),
        ),
        _Check(
            "mt-bench",
            "routellm-evals/mt_bench",
            "routellm-evals",
            _bench("mt-bench", (72, 9.212, 8.281), 3),
        ),
        _Check("gsm8k", "routellm-evals/gsm8k", "routellm-evals", _gsm8k),
        _Check(
            "alpaca-eval",
            "alpaca-eval",
            "alpaca-eval",
            _alpaca_eval,
        ),
        _Check(
            "routerbench",
            "routerbench",
            "routerbench",
            _per_source(
                golden.load_routerbench,
                {
                    "arc_challenge_train": 1039,
                    "mbpp_train": 299,
                    "winograde_train": 887,
                },
                "ARC-challenge 1,039 / MBPP 299 / Winogrande 887",
            ),
        ),
        _Check(
            "routerdc",
            "routerdc-7model",
            "routerdc",
            _count(golden.load_routerdc, "golden records"),  # type: ignore[arg-type]
        ),
        _Check(
            "llmrouter",
            "ulab-llmrouter",
            "llmrouter",
            _llmrouter,
        ),
        _Check(
            "routeprofile",
            "ulab-routeprofile",
            "routeprofile",
            _routeprofile,
        ),
        _Check("gsm8k-train", "gsm8k-train", "gsm8k-train", _gsm8k_train),
        _Check("elobench", "elobench", "elobench", _elobench),
        _Check(
            "gemini-benchmark",
            "gemini-benchmark",
            "gemini-benchmark",
            _gemini_benchmark,
        ),
        _Check("zeroeval-crux", "zeroeval-crux", "zeroeval-crux", _crux),
    ]


def register(app: typer.Typer) -> None:
    """Add the `data` command group to the root app."""
    data_app = typer.Typer(
        cls=PrefrouteGroup,
        help="List, download and check the public data sources.",
        no_args_is_help=True,
    )

    @data_app.command("list")
    def list_sources(
        data_dir: DataDirOption = None,
    ) -> None:
        """Show every registered source and whether its files are present."""
        from rich.console import Console
        from rich.table import Table

        from prefroute.data.download import SOURCES, file_status

        root = resolve_data_dir(data_dir, must_exist=False)
        table = Table(title=f"data sources (data dir: {root})")
        for col in ("name", "present", "description"):
            table.add_column(col)
        for source in SOURCES.values():
            present = sum(file_status(root, f) != "missing" for f in source.files)
            table.add_row(
                source.name,
                f"{present}/{len(source.files)}",
                source.description,
            )
        Console().print(table)

    @data_app.command("download")
    def download_cmd(
        name: Annotated[
            str,
            typer.Argument(
                metavar="SOURCE", help="A source name (see `data list`) or 'all'."
            ),
        ],
        data_dir: DataDirOption = None,
        dest: Annotated[
            Path | None,
            typer.Option(
                "--dest", metavar="DIR", hidden=True, help="Deprecated: --data-dir."
            ),
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Re-download present files.")
        ] = False,
    ) -> None:
        """Download a public source (or all), verifying sha256 checksums."""
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskID,
            TextColumn,
            TransferSpeedColumn,
        )

        from prefroute.data.download import download, get_source

        if dest is not None:
            if data_dir is not None and data_dir != dest:
                raise ConfigError(
                    f"--dest {str(dest)!r} and --data-dir {str(data_dir)!r} differ; "
                    "--dest is the old name of --data-dir: give only --data-dir"
                )
            typer.echo(
                "warning: --dest is deprecated and will be removed; use --data-dir",
                err=True,
            )
            data_dir = dest
        if name != "all":
            get_source(name)  # fail fast on a typo
        root = resolve_data_dir(data_dir, must_exist=False)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def on_progress(path: str, done: int, total: int | None) -> None:
                if path not in tasks:
                    tasks[path] = progress.add_task(path, total=total)
                progress.update(tasks[path], completed=done, total=total)

            results = download(name, root, force=force, on_progress=on_progress)
        n_new = sum(r.status == "downloaded" for r in results)
        typer.echo(
            f"{n_new} file(s) downloaded, {len(results) - n_new} already present, "
            f"into {root}"
        )

    @data_app.command("check")
    def check_cmd(
        data_dir: DataDirOption = None,
        sha: Annotated[
            bool,
            typer.Option(
                "--sha", help="Also verify sha256 of files with a known checksum."
            ),
        ] = False,
    ) -> None:
        """Load every present dataset and print its known figures."""
        from rich.console import Console
        from rich.table import Table

        root = resolve_data_dir(data_dir)
        table = Table(title=f"data check ({root})")
        for col in ("dataset", "status", "figures"):
            table.add_column(col)
        n_failed = 0
        for check in _checks():
            if not (root / check.marker).exists():
                table.add_row(
                    check.name,
                    "missing",
                    f"prefroute data download {check.source} --data-dir {root}",
                )
                continue
            try:
                figures, matches = check.run(root)
            except DataError as exc:
                n_failed += 1
                table.add_row(check.name, "[red]error[/red]", str(exc))
                continue
            table.add_row(check.name, "ok" if matches else "ok (differs)", figures)
        if sha:
            n_failed += _verify_checksums(root, table)
        Console().print(table)
        if n_failed:
            raise typer.Exit(1)

    app.add_typer(data_app, name="data")


def _verify_checksums(root: Path, table: object) -> int:
    from prefroute.data.download import (
        DERIVED_SHA256,
        SOURCES,
        file_status,
        sha256_file,
    )

    counts = {"ok": 0, "mismatch": 0, "unverified": 0}
    bad: list[str] = []
    for source in SOURCES.values():
        for remote in source.files:
            status = file_status(root, remote, verify=True)
            if status in counts:
                counts[status] += 1
            if status == "mismatch":
                bad.append(remote.path)
    for rel, expected in DERIVED_SHA256.items():
        path = root / rel
        if path.is_file():
            if sha256_file(path) == expected:
                counts["ok"] += 1
            else:
                counts["mismatch"] += 1
                bad.append(rel)
    text = ", ".join(f"{v} {k}" for k, v in counts.items())
    if bad:
        text += f"; mismatched: {', '.join(bad)}"
    table.add_row("sha256", "ok" if not bad else "[red]mismatch[/red]", text)  # type: ignore[attr-defined]
    return len(bad)
