"""Data loaders: evaluation benchmarks, battles and golden labels -> typed records.

Every loader accepts a file or a folder, returns records from `prefroute.types`
and raises `prefroute.errors.DataError` naming the file and row on malformed input.
"""

from __future__ import annotations

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
from prefroute.data.benchmarks import (
    DEFAULT_PAIR,
    available_models,
    load_benchmark,
    load_eval_prompts,
)
from prefroute.data.elobench import load_elobench
from prefroute.data.golden import (
    load_crux,
    load_gemini_benchmark,
    load_llmrouter,
    load_routeprofile,
    load_routerbench,
    load_routerdc,
)
from prefroute.data.models import canonical_model_name
from prefroute.data.prompts import read_prompts

__all__ = [
    "DEFAULT_PAIR",
    "available_models",
    "battles_from_golden",
    "canonical_model_name",
    "load_alpaca_eval",
    "load_arena_33k",
    "load_arena_55k",
    "load_battles",
    "load_battles_jsonl",
    "load_benchmark",
    "load_crux",
    "load_elobench",
    "load_eval_prompts",
    "load_gemini_benchmark",
    "load_llmrouter",
    "load_routeprofile",
    "load_routeprofile_pairs",
    "load_routerbench",
    "load_routerdc",
    "read_prompts",
    "write_battles_jsonl",
]
