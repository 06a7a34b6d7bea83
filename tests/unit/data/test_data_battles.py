"""Battle loaders: Arena 55k/33k (fixture files), AlpacaEval (real data), own JSONL."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from prefroute.data.battles import (
    battles_from_golden,
    load_alpaca_eval,
    load_arena_33k,
    load_arena_55k,
    load_battles,
    load_battles_jsonl,
    load_routeprofile_pairs,
    write_battles_jsonl,
)
from prefroute.data.benchmarks import DEFAULT_PAIR
from prefroute.data.golden import load_routerbench
from prefroute.errors import DataError, MissingDependencyError
from prefroute.types import Battle, GoldenRecord

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "battles"
ARENA_55K = FIXTURES / "arena_55k_sample.csv"
ARENA_33K_JSON = FIXTURES / "arena_33k_sample.json"
ARENA_33K_JSONL = FIXTURES / "arena_33k_sample.jsonl"
OWN_JSONL = FIXTURES / "battles_sample.jsonl"


def _rewrite_55k(tmp_path: Path, row_index: int, column: str, value: str) -> Path:
    with ARENA_55K.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[row_index][column] = value
    out = tmp_path / "train.csv"
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


# --- Arena 55k ----------------------------------------------------------------------


def test_arena_55k_winners_from_flags() -> None:
    battles = load_arena_55k(ARENA_55K)
    assert [b.winner for b in battles] == ["a", "b", "tie"]
    assert battles[0].model_a == "gpt-4-1106-preview"
    assert battles[0].source == "arena_55k"


def test_arena_55k_first_turn_default() -> None:
    battles = load_arena_55k(ARENA_55K)
    assert battles[0].prompt.startswith("Is it morally right")
    assert battles[1].prompt.endswith('Answer with "quotes", commas, and a newline.')


def test_arena_55k_last_turn_option() -> None:
    battles = load_arena_55k(ARENA_55K, turn="last")
    assert battles[0].prompt.startswith("OK, does pineapple")
    # null turns (cut conversations) are skipped
    assert battles[2].prompt.startswith("explain function calling")


def test_arena_55k_two_winner_flags_rejected(tmp_path: Path) -> None:
    path = _rewrite_55k(tmp_path, 0, "winner_tie", "1")
    with pytest.raises(
        DataError, match=r"train\.csv:2 \(row 1\): expected exactly one"
    ):
        load_arena_55k(path)


def test_arena_55k_bad_flag_value(tmp_path: Path) -> None:
    path = _rewrite_55k(tmp_path, 1, "winner_model_b", "yes")
    with pytest.raises(DataError, match=r"row 2\).*'winner_model_b'.*'yes'"):
        load_arena_55k(path)


def test_arena_55k_bad_prompt_json(tmp_path: Path) -> None:
    path = _rewrite_55k(tmp_path, 2, "prompt", '["unterminated')
    with pytest.raises(DataError, match=r"row 3\): column 'prompt'"):
        load_arena_55k(path)


def test_arena_55k_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text('id,model_a,model_b,prompt\n1,x,y,"[""hi""]"\n')
    with pytest.raises(DataError, match="missing column 'winner_model_a'"):
        load_arena_55k(path)


def test_arena_55k_bad_turn_option() -> None:
    with pytest.raises(DataError, match="turn"):
        load_arena_55k(ARENA_55K, turn="middle")  # type: ignore[arg-type]


def test_arena_55k_parquet_round_trip(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    with ARENA_55K.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for col in ("winner_model_a", "winner_model_b", "winner_tie"):
            row[col] = int(row[col])  # type: ignore[assignment]
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert load_arena_55k(path) == load_arena_55k(ARENA_55K)


def test_parquet_without_pyarrow_names_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "train.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingDependencyError, match=r"prefroute\[parquet\]"):
        load_arena_55k(path)


# --- Arena 33k ----------------------------------------------------------------------


def test_arena_33k_json_winners() -> None:
    battles = load_arena_33k(ARENA_33K_JSON)
    assert [b.winner for b in battles] == ["b", "tie", "a", "tie_bothbad"]
    assert battles[0].prompt == "What is the difference between OpenCL and CUDA?"


def test_arena_33k_jsonl_same_as_json() -> None:
    assert load_arena_33k(ARENA_33K_JSONL) == load_arena_33k(ARENA_33K_JSON)


def test_arena_33k_last_turn() -> None:
    battles = load_arena_33k(ARENA_33K_JSON, turn="last")
    assert battles[2].prompt == "And for video?"


def test_arena_33k_language_filter() -> None:
    battles = load_arena_33k(ARENA_33K_JSONL, language="German")
    assert [b.prompt for b in battles] == ["Wie baue ich ein Vogelhaus?"]


def test_arena_33k_unknown_winner_names_line(tmp_path: Path) -> None:
    lines = ARENA_33K_JSONL.read_text().splitlines()
    obj = json.loads(lines[1])
    obj["winner"] = "model_c"
    lines[1] = json.dumps(obj)
    path = tmp_path / "conv.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"conv\.jsonl:2: field 'winner'.*'model_c'"):
        load_arena_33k(path)


def test_arena_33k_bad_conversation_names_record(tmp_path: Path) -> None:
    data = json.loads(ARENA_33K_JSON.read_text())
    data[3]["conversation_a"] = [{"content": "no role"}]
    path = tmp_path / "conv.json"
    path.write_text(json.dumps(data))
    with pytest.raises(
        DataError, match=r"conv\.json \(record 3\): conversation_a\[0\]"
    ):
        load_arena_33k(path)


def test_arena_33k_bad_json_line(tmp_path: Path) -> None:
    path = tmp_path / "conv.jsonl"
    path.write_text(ARENA_33K_JSONL.read_text().splitlines()[0] + "\n{oops\n")
    with pytest.raises(DataError, match=r"conv\.jsonl:2: invalid JSON"):
        load_arena_33k(path)


def test_arena_33k_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    data = json.loads(ARENA_33K_JSON.read_text())
    path = tmp_path / "conv.parquet"
    pq.write_table(pa.Table.from_pylist(data), path)
    assert load_arena_33k(path) == load_arena_33k(ARENA_33K_JSON)


# --- AlpacaEval (real files) -----------------------------------------------------


@pytest.fixture(scope="session")
def alpaca_all(data_dir: Path) -> list[Battle]:
    return load_alpaca_eval(data_dir)


def test_alpaca_compact_row_count(alpaca_all: list[Battle]) -> None:
    # 108,665 rows; 64 have no preference (judge failures) and 805 are AlpacaEval's
    # placeholder generator "example" (NullModel): both skipped
    assert len(alpaca_all) == 108_601 - 805
    assert not {"example"} & {m for b in alpaca_all for m in (b.model_a, b.model_b)}


def test_alpaca_soft_label_matches_preference(alpaca_all: list[Battle]) -> None:
    first = alpaca_all[0]
    assert first.model_a == "gpt4_1106_preview"
    assert first.model_b == "Ein-70B-v0.1"
    assert first.winner == "b" and first.p_a == 0.0
    assert all(b.p_a is not None and 0.0 <= b.p_a <= 1.0 for b in alpaca_all)
    fractional = [b for b in alpaca_all if b.p_a not in (0.0, 0.5, 1.0)]
    assert fractional
    assert all((b.winner == "a") == (b.credit_a > 0.5) for b in fractional)


def test_alpaca_paper_pair_present(data_dir: Path) -> None:
    battles = load_alpaca_eval(
        data_dir,
        models={"Mixtral-8x7B-Instruct-v0.1_concise"},
        annotators={"weighted_alpaca_eval_gpt4_turbo"},
    )
    assert len(battles) == 805
    assert {(b.model_a, b.model_b) for b in battles} == {
        ("gpt4_1106_preview", "Mixtral-8x7B-Instruct-v0.1_concise")
    }
    assert battles[0].prompt.startswith("What are the names of some famous actors")
    canonical = load_alpaca_eval(
        data_dir,
        models={"mistralai/Mixtral-8x7B-Instruct-v0.1"},
        annotators={"weighted_alpaca_eval_gpt4_turbo"},
        canonical=True,
    )
    assert len(canonical) == 805
    assert canonical[0].model_a == "gpt-4-1106-preview"
    assert canonical[0].model_b == "mistralai/Mixtral-8x7B-Instruct-v0.1"


def test_alpaca_annotator_filter(data_dir: Path) -> None:
    battles = load_alpaca_eval(
        data_dir, annotators={"alpaca_eval_gpt4"}, prefer="annotations"
    )
    assert len(battles) == 7 * 805 - 5  # 7 files judged by GPT-4; 5 unjudged rows
    assert {b.source for b in battles} == {"alpaca_eval/alpaca_eval_gpt4"}


def test_alpaca_annotation_files(data_dir: Path) -> None:
    battles = load_alpaca_eval(data_dir, prefer="annotations")
    assert len(battles) == 9 * 805 - 5  # 9 files; 5 records without a preference
    one = data_dir / "alpaca-eval/results/claude-2/alpaca_eval_gpt4/annotations.json"
    claude = load_alpaca_eval(one)
    assert {b.model_b for b in claude} == {"claude-2"}
    assert {b.model_a for b in claude} == {"text_davinci_003"}


def test_alpaca_bad_preference_names_record(tmp_path: Path) -> None:
    rows = [
        {"instruction": "q", "generator_1": "a", "generator_2": "b", "preference": 2},
        {"instruction": "r", "generator_1": "a", "generator_2": "b", "preference": 3.5},
    ]
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"annotations\.json \(record 1\).*preference"):
        load_alpaca_eval(path)


def test_alpaca_draw_code_zero_is_tie(tmp_path: Path) -> None:
    rows = [
        {"instruction": "q", "generator_1": "a", "generator_2": "b", "preference": 0}
    ]
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(rows))
    (battle,) = load_alpaca_eval(path)
    assert battle.winner == "tie" and battle.p_a == 0.5


def test_alpaca_placeholder_generator_dropped(tmp_path: Path) -> None:
    # "example" is AlpacaEval's NullModel (a constant answer), not a model
    rows = [
        {
            "instruction": "q",
            "generator_1": "gpt4_1106_preview",
            "generator_2": "example",
            "preference": 2,
        },
        {
            "instruction": "r",
            "generator_1": "gpt4_1106_preview",
            "generator_2": "claude-2",
            "preference": 1,
        },
    ]
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(rows))
    (battle,) = load_alpaca_eval(path)
    assert battle.model_b == "claude-2"


def test_alpaca_compact_placeholder_generator_dropped(tmp_path: Path) -> None:
    (tmp_path / "instructions_805.json").write_text(
        json.dumps([{"idx": 0, "instruction": "hi"}])
    )
    rows = [
        {
            "instruction_idx": 0,
            "generator_1": "gpt4_1106_preview",
            "generator_2": g,
            "preference": 1.5,
        }
        for g in ("example", "Yi-34B-Chat")
    ]
    path = tmp_path / "preferences_compact_all_present.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    battles = load_alpaca_eval(tmp_path, canonical=True)
    assert [b.model_b for b in battles] == ["zero-one-ai/Yi-34B-Chat"]


def test_alpaca_compact_bad_index(tmp_path: Path) -> None:
    (tmp_path / "instructions_805.json").write_text(
        json.dumps([{"idx": 0, "instruction": "hi"}])
    )
    row = {
        "instruction_idx": 7,
        "generator_1": "a",
        "generator_2": "b",
        "preference": 1,
    }
    path = tmp_path / "preferences_compact_all_present.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=r"jsonl:1: field 'instruction_idx'"):
        load_alpaca_eval(tmp_path)


def test_alpaca_missing_folder_says_download(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="prefroute data download alpaca-eval"):
        load_alpaca_eval(tmp_path, prefer="compact")


# --- prefroute JSONL ---------------------------------------------------------------


def test_battles_jsonl_fixture() -> None:
    battles = load_battles_jsonl(OWN_JSONL)
    assert [b.winner for b in battles] == ["tie", "a", "b", "tie_bothbad"]
    assert battles[1].weight == 2.0 and battles[1].source == "manual"
    assert battles[2].p_a == 0.25 and battles[2].credit_a == 0.25


def test_battles_jsonl_round_trip(tmp_path: Path) -> None:
    battles = load_battles_jsonl(OWN_JSONL)
    out = tmp_path / "sub" / "b.jsonl"
    assert write_battles_jsonl(out, battles) == len(battles)
    assert load_battles_jsonl(out) == battles


def test_battles_jsonl_unicode_round_trip(tmp_path: Path) -> None:
    battle = Battle("Zürich → 東京 \U0001f600", "m1", "m2", "a", p_a=0.9)
    out = tmp_path / "u.jsonl"
    write_battles_jsonl(out, [battle])
    assert load_battles_jsonl(out) == [battle]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"prompt": "p", "model_a": "x", "model_b": "y", "winner": "c"}, "'winner'"),
        ({"prompt": "p", "model_a": "x", "winner": "a"}, "missing field 'model_b'"),
        ({"prompt": 3, "model_a": "x", "model_b": "y", "winner": "a"}, "'prompt'"),
        (
            {"prompt": "p", "model_a": "x", "model_b": "y", "winner": "a", "p_a": 2},
            "'p_a'",
        ),
        (
            {
                "prompt": "p",
                "model_a": "x",
                "model_b": "y",
                "winner": "a",
                "weight": "1",
            },
            "'weight'",
        ),
    ],
)
def test_battles_jsonl_malformed(
    tmp_path: Path, obj: dict[str, object], message: str
) -> None:
    path = tmp_path / "b.jsonl"
    good = {"prompt": "ok", "model_a": "x", "model_b": "y", "winner": "a"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(obj) + "\n")
    with pytest.raises(DataError, match=rf"b\.jsonl:2: .*{message}"):
        load_battles_jsonl(path)


def test_battles_jsonl_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text("[1, 2]\n")
    with pytest.raises(DataError, match=r"b\.jsonl:1: expected a JSON object"):
        load_battles_jsonl(path)


def test_battles_jsonl_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_battles_jsonl(tmp_path / "nope.jsonl")


# --- format detection --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "n"),
    [(ARENA_55K, 3), (ARENA_33K_JSON, 4), (ARENA_33K_JSONL, 4), (OWN_JSONL, 4)],
)
def test_load_battles_detects_format(path: Path, n: int) -> None:
    assert len(load_battles(path)) == n


def test_load_battles_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"foo": 1}) + "\n")
    with pytest.raises(DataError, match="unrecognised battle format"):
        load_battles(path)


# --- RouteProfile pairs and golden -> battles ----------------------------------------


def test_routeprofile_pairs_counts_and_balance(data_dir: Path) -> None:
    battles = load_routeprofile_pairs(data_dir)
    assert len(battles) == 3850 + 3720
    winners = [b.winner for b in battles]
    assert winners.count("a") == winners.count("b") == len(battles) // 2
    assert {b.source for b in battles} == {
        "routeprofile/standard",
        "routeprofile/newllm",
    }


def test_routeprofile_pairs_better_model_wins(data_dir: Path) -> None:
    path = data_dir / "ulab-routeprofile/route_data/pairwise_training_data_newllm.json"
    first = load_routeprofile_pairs(path)[0]
    assert (first.model_a, first.model_b, first.winner) == (
        "mixtral-8x7b-instruct-v0.1",
        "qwen2.5-7b-instruct",
        "a",
    )


def test_routeprofile_pairs_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "pairwise_training_data_x.json"
    path.write_text(
        json.dumps({"pairwise_data": [{"query": "q", "better_model": "m"}]})
    )
    with pytest.raises(
        DataError, match=r"pairwise_data\[0\]\): missing field 'worse_model'"
    ):
        load_routeprofile_pairs(path)


def _golden(strong: float, weak: float) -> GoldenRecord:
    return GoldenRecord(
        "p", {"gpt4_1106_preview": strong, "mixtral-8x7b-chat": weak}, "t"
    )


@pytest.mark.parametrize(
    ("strong", "weak", "winner", "p_a"),
    [
        (1.0, 0.0, "a", 1.0),
        (0.0, 1.0, "b", 0.0),
        (1.0, 1.0, "tie", 0.5),
        (0.0, 0.0, "tie_bothbad", 0.5),
        (0.8, 0.4, "a", 0.7),
    ],
)
def test_battles_from_golden_labels(
    strong: float, weak: float, winner: str, p_a: float
) -> None:
    (battle,) = battles_from_golden([_golden(strong, weak)], DEFAULT_PAIR)
    assert battle.winner == winner
    assert battle.p_a == pytest.approx(p_a)
    assert battle.model_a == DEFAULT_PAIR.strong  # matched through the alias table
    assert battle.model_b == DEFAULT_PAIR.weak


def test_battles_from_golden_skips_records_without_pair() -> None:
    rec = GoldenRecord("p", {"other": 1.0, "gpt-4-1106-preview": 1.0})
    assert battles_from_golden([rec], DEFAULT_PAIR) == []


def test_battles_from_routerbench(data_dir: Path) -> None:
    battles = battles_from_golden(load_routerbench(data_dir), DEFAULT_PAIR)
    assert len(battles) == 2225 - 8  # 8 ARC rows lack a Mixtral result
    assert {b.winner for b in battles} == {"a", "b", "tie", "tie_bothbad"}


def test_arena_loaders_accept_folders(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(ARENA_55K.read_bytes())
    (tmp_path / "b.jsonl").write_bytes(ARENA_33K_JSONL.read_bytes())
    assert load_arena_55k(tmp_path) == load_arena_55k(ARENA_55K)
    assert load_arena_33k(tmp_path) == load_arena_33k(ARENA_33K_JSONL)


def test_arena_empty_folder_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no \.csv/\.parquet files"):
        load_arena_55k(tmp_path)


def test_own_jsonl_canonical_names_join_other_sources(tmp_path: Path) -> None:
    # Three spellings of the paper's pair as found in RouterBench, AlpacaEval and
    # hand-written logs: canonical names make them one model each, and a battle of
    # a model against its own alias is dropped (it says nothing).
    path = tmp_path / "own.jsonl"
    rows = [
        ("gpt4_1106_preview", "Mixtral-8x7B-Instruct-v0.1", "a"),
        ("gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat", "tie"),
        ("Mixtral-8x7B-Instruct-v0.1", "mistralai/mixtral-8x7b-chat", "a"),
    ]
    path.write_text(
        "".join(
            json.dumps({"prompt": f"q{i}", "model_a": a, "model_b": b, "winner": w})
            + "\n"
            for i, (a, b, w) in enumerate(rows)
        ),
        encoding="utf-8",
    )
    raw = load_battles_jsonl(path)
    assert len({m for b in raw for m in (b.model_a, b.model_b)}) == 4
    joined = load_battles_jsonl(path, canonical=True)
    assert len(joined) == 2
    assert {(b.model_a, b.model_b) for b in joined} == {DEFAULT_PAIR_NAMES}
    assert [b.winner for b in joined] == ["a", "tie"]


DEFAULT_PAIR_NAMES = (DEFAULT_PAIR.strong, DEFAULT_PAIR.weak)
