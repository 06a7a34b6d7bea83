"""Tiny EloBench, gemini-benchmark and ZeroEval-CRUX folders in their real layouts,
written by tests (no real data needed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

ELO_COMMIT = "838218bd847d27f838da0a15d4603e23cea2979e"
ELO_SET = "google_quora_alpaca_sharegpt_chat1m_clean_20772_fullset"
ELO_SOURCE = "rwq_fullset_838218b"

#: Arranged battles (question, model_a, model_b); the judged file skips row 3.
ARRANGED = [
    ("What is the James Webb telescope?", "gpt-4-turbo", "gpt-35-turbo"),
    ("Write a haiku about autumn rain.", "gpt-4-turbo", "vicuna-7b"),
    ("Explain TCP slow start.", "llama-7b", "vicuna-7b"),
    ("Explain UDP.", "llama-7b", "vicuna-7b"),
    ("Name three rivers in Spain.", "llama-7b", "vicuna-7b"),
    ("Solve 2x + 3 = 11, step by step.", "gpt-35-turbo", "gpt-4-turbo"),
]
#: Judged battles: row 3 of the arrangement was skipped.
JUDGED = [
    ("gpt-4-turbo", "gpt-35-turbo", "model_a"),
    ("gpt-4-turbo", "vicuna-7b", "tie"),
    ("llama-7b", "vicuna-7b", "model_b"),
    ("llama-7b", "vicuna-7b", "tie(all bad)"),
    ("gpt-35-turbo", "gpt-4-turbo", "invalid"),
]


def write_elobench_raw(root: Path) -> Path:
    """A data root whose ``elobench/raw/...`` holds one result set; its set folder."""
    folder = root / "elobench" / "raw" / ELO_COMMIT / "results" / ELO_SET
    folder.mkdir(parents=True)
    with (folder / "battle_arrangement.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "question", "model_a", "model_b"])
        writer.writerows([i, *row] for i, row in enumerate(ARRANGED))
    with (folder / "battled_pairs.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "model_a", "model_b", "winner"])
        writer.writerows([i, *row] for i, row in enumerate(JUDGED))
    return folder


def write_elobench_joined(root: Path, rows: list[list[str]]) -> Path:
    """``elobench/elobench_gpt4judge_battles.csv`` with the given data rows."""
    path = root / "elobench" / "elobench_gpt4judge_battles.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "source",
                "arrangement_row",
                "question",
                "model_a",
                "model_b",
                "winner",
                "ambiguous_alignment",
            ]
        )
        writer.writerows(rows)
    return path


SVAMP = [
    # qid, question, gpt-4 right, mixtral right
    (7, "Jack had 8 pens and gave 3 away. How many are left?", 1, 1),
    (9, "A box holds 12 eggs. How many eggs are in 5 boxes?", 1, 0),
    (4, "Tom is 3 years older than Ann, who is 9. How old is Tom?", 0, 0),
]
HUMANEVAL = [
    # prompt, gpt-4 pass@1, mixtral pass@1
    ('def add(a, b):\n    """Add two numbers."""\n', 1.0, 1.0),
    ('def is_prime(n):\n    """True if n is prime."""\n', 1.0, 0.0),
]


def _jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_gemini_benchmark(root: Path) -> Path:
    """``gemini-benchmark/outputs/{svamp,HumanEval}/<model>/output.jsonl``."""
    out = root / "gemini-benchmark" / "outputs"
    for col, model in ((2, "gpt-4-1106-preview"), (3, "mixtral")):
        rows = [
            {
                "qid": row[0],
                "prompt": "Q: 8-shot examples...\n\nQ: " + str(row[1]) + "\n\nA:",
                "question": row[1],
                "is_correct": row[col],
                "answer": "0",
            }
            for row in SVAMP
        ]
        # the models' files list the questions in different orders
        _jsonl(out / "svamp" / model / "output.jsonl", rows[:: 1 if col == 2 else -1])
    for col, model in ((1, "gpt-4-turbo"), (2, "mixtral")):
        rows = [
            {
                "task_id": f"HumanEval/{i}",
                "prompt": row[0],
                "question": row[0],
                "scores": {"pass@1": row[col]},
            }
            for i, row in enumerate(HUMANEVAL)
        ]
        _jsonl(out / "HumanEval" / model / "output.jsonl", rows)
    return out


CRUX_MODELS = {
    # model: (diff against the published accuracy, correctness on the 3 problems)
    "gpt-4-0314": ("0.0", (1, 1, 0)),
    "Mixtral-8x7B-Instruct-v0.1": ("-0.13", (1, 0, 0)),
    "claude-3-haiku-20240307": ("-52.75", (0, 0, 0)),
    "Meta-Llama-3.1-405B-Instruct@hyperbolic": ("None", (1, 1, 1)),
}


def write_crux(root: Path) -> Path:
    """``zeroeval-crux/derived/`` with 3 problems and 4 models."""
    folder = root / "zeroeval-crux" / "derived"
    folder.mkdir(parents=True)
    ids = [f"crux-test-#{i}" for i in range(3)]
    _jsonl(
        folder / "crux_questions.jsonl",
        [
            {"id": q, "question": f"[PYTHON]\ndef f(x):\n    return x + {i}\n"}
            for i, q in enumerate(ids)
        ],
    )
    with (folder / "crux_validation.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "my_acc", "zeroeval_summary_acc", "diff"])
        for model, (diff, _) in CRUX_MODELS.items():
            writer.writerow([model, "50.0", "50.0", diff])
    with (folder / "crux_correctness_51models.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "model", "generator", "correct", "parsed_answer"])
        for model, (_, correct) in CRUX_MODELS.items():
            for q, c in zip(ids, correct, strict=True):
                writer.writerow([q, model, "org/" + model, c, "x"])
    return folder
