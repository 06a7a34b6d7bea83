"""N-model evaluation: hull, AIQ, cost to match, folds, cross-validation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from _multi_records import three_model_records
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError
from prefroute.evals.multi import (
    aiq,
    benchmark_prices,
    cost_to_reach,
    cross_validate_multi,
    fold_ids,
    golden_table,
    load_golden,
    load_prices_file,
    plot_multi_eval,
    quality_at_cost,
    upper_hull,
)
from prefroute.routers.multi import MultiModelRouter
from prefroute.routers.policy import ModelPrice
from prefroute.types import GoldenRecord


def test_upper_hull_drops_dominated_and_concave_points() -> None:
    costs = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    quality = np.array([0.5, 0.55, 0.9, 0.8, 0.95])
    hull = upper_hull(costs, quality)
    # (2, .55) lies under the chord (1,.5)-(3,.9); (4, .8) is dominated by (3, .9).
    assert hull.tolist() == [[1.0, 0.5], [3.0, 0.9], [5.0, 0.95]]


def test_aiq_of_flat_curve_is_its_quality() -> None:
    assert aiq(np.array([1.0, 2.0]), np.array([0.7, 0.7]), (1.0, 2.0)) == pytest.approx(
        0.7
    )


def test_aiq_of_two_points_is_their_mean() -> None:
    value = aiq(np.array([1.0, 3.0]), np.array([0.5, 0.9]), (1.0, 3.0))
    assert value == pytest.approx(0.7)


def test_aiq_holds_best_quality_beyond_last_point() -> None:
    value = aiq(np.array([1.0, 2.0]), np.array([0.5, 0.9]), (1.0, 3.0))
    # Rises 0.5 -> 0.9 over [1, 2] (mean 0.7), then flat at 0.9 over [2, 3].
    assert value == pytest.approx(0.8)


def test_aiq_does_not_credit_a_curve_below_its_reach() -> None:
    # One dear model alone (cost 3, quality 0.9) over the range [1, 3]: without a
    # start point the hull is flat at 0.9 below cost 3 (the old, inflated AIQ);
    # through the cheapest model's point (1, 0.5) it rises from 0.5 instead.
    dear_c, dear_q = np.array([3.0]), np.array([0.9])
    assert aiq(dear_c, dear_q, (1.0, 3.0)) == pytest.approx(0.9)
    assert aiq(dear_c, dear_q, (1.0, 3.0), start=(1.0, 0.5)) == pytest.approx(0.7)
    # A curve that already reaches the cheap end is unchanged by the start point.
    c, q = np.array([1.0, 2.0]), np.array([0.6, 0.9])
    assert aiq(c, q, (1.0, 3.0), start=(1.0, 0.5)) == pytest.approx(
        aiq(c, q, (1.0, 3.0))
    )


def test_single_dear_model_never_outscores_the_random_mix() -> None:
    # The audit's case: "always the best model" as a method must not beat the hull
    # of all single models (which contains it) once the start point is used.
    costs = np.array([1.0, 2.0, 5.0])
    quality = np.array([0.5, 0.8, 0.9])
    mix = aiq(costs, quality, (1.0, 5.0), start=(1.0, 0.5))
    best_alone = aiq(costs[2:], quality[2:], (1.0, 5.0), start=(1.0, 0.5))
    assert best_alone < mix


def test_cost_to_reach_points_and_hull() -> None:
    costs = np.array([1.0, 3.0])
    quality = np.array([0.5, 0.9])
    assert cost_to_reach(costs, quality, 0.7) == 3.0
    assert cost_to_reach(costs, quality, 0.7, interpolate=True) == pytest.approx(2.0)
    assert math.isinf(cost_to_reach(costs, quality, 0.95))


def test_quality_at_cost_points_and_hull() -> None:
    costs = np.array([1.0, 3.0])
    quality = np.array([0.5, 0.9])
    assert quality_at_cost(costs, quality, 2.0) == 0.5
    assert quality_at_cost(costs, quality, 2.0, interpolate=True) == pytest.approx(0.7)
    assert math.isnan(quality_at_cost(costs, quality, 0.5))


def test_random_folds_partition_prompts_evenly() -> None:
    folds = fold_ids(103, n_folds=5, seed=1)
    counts = np.bincount(folds)
    assert counts.sum() == 103 and counts.max() - counts.min() <= 1


def test_group_folds_are_one_group_each() -> None:
    folds = fold_ids(4, groups=["b", "a", "b", "c"])
    assert folds.tolist() == [1, 0, 1, 2]
    with pytest.raises(ConfigError, match="2 groups"):
        fold_ids(2, groups=["a", "a"])


def _synthetic_records(n_per_task: int = 20) -> list[GoldenRecord]:
    """Three models: cheap is right on easy chat, mid on math, dear everywhere."""
    return three_model_records(
        n_per_task, costs={"cheap": 0.001, "mid": 0.003, "dear": 0.01}
    )


class _RecordingRouter(MultiModelRouter):
    """The real router, remembering which prompts it was fitted on and scored."""

    fitted: ClassVar[list[set[str]]] = []
    scored: ClassVar[list[set[str]]] = []

    def fit_multi(self, golden, battles=(), **kwargs):  # type: ignore[no-untyped-def]
        type(self).fitted.append({r.prompt for r in golden})
        return super().fit_multi(golden, battles, **kwargs)

    def score_models(self, prompts, models=None):  # type: ignore[no-untyped-def]
        type(self).scored.append(set(prompts))
        return super().score_models(prompts, models)


def test_cross_validation_never_scores_training_prompts() -> None:
    table = golden_table(_synthetic_records())
    _RecordingRouter.fitted, _RecordingRouter.scored = [], []
    embedder = HashingEmbedder(dim=64)
    result = cross_validate_multi(
        table,
        lambda: _RecordingRouter(embedder=embedder, dim=4, n_epochs=100),
        n_folds=4,
    )
    assert len(_RecordingRouter.fitted) == 4
    for fitted, scored in zip(
        _RecordingRouter.fitted, _RecordingRouter.scored, strict=True
    ):
        assert fitted.isdisjoint(scored)
    assert set().union(*_RecordingRouter.scored) == set(table.prompts)
    assert result.n_prompts == 40


def test_router_beats_random_mix_and_oracle_bounds_it() -> None:
    table = golden_table(_synthetic_records())
    embedder = HashingEmbedder(dim=64)
    result = cross_validate_multi(
        table,
        lambda: MultiModelRouter(embedder=embedder, dim=4, n_epochs=200, l2=1e-3),
        n_folds=4,
        pair=("dear", "cheap"),
    )
    methods = result.methods
    assert set(methods) == {
        "router",
        "random-mix",
        "best-pair",
        "pair",
        "task-oracle",
        "oracle",
    }
    assert result.best_model == "dear" and result.cheapest_model == "cheap"
    assert methods["oracle"].aiq >= methods["router"].aiq > methods["random-mix"].aiq
    # Chat to cheap and math to mid beats 'dear' (0.95) at a fraction of its cost.
    assert methods["router"].cost_to_match_best < 0.5 * result.single["dear"][0]
    report = result.as_dict()
    assert report["methods"]["router"]["cost_to_match_best_share"] < 0.5


def test_task_split_holds_out_whole_tasks() -> None:
    table = golden_table(_synthetic_records(8))
    embedder = HashingEmbedder(dim=32)
    result = cross_validate_multi(
        table,
        lambda: MultiModelRouter(embedder=embedder, dim=2, n_epochs=30),
        split="task",
    )
    assert result.split == "task" and result.n_prompts == 16


def test_plot_writes_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    table = golden_table(_synthetic_records(6))
    embedder = HashingEmbedder(dim=32)
    result = cross_validate_multi(
        table,
        lambda: MultiModelRouter(embedder=embedder, dim=2, n_epochs=20),
        n_folds=2,
    )
    plot_multi_eval(result, tmp_path / "x.png")
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.data
def test_routerbench_table_has_eleven_models_with_costs(data_dir: Path) -> None:
    table = golden_table(load_golden("routerbench", data_dir))
    assert len(table.models) == 11
    assert "gpt-4-1106-preview" in table.models
    assert table.quality.shape == table.cost.shape == (len(table.prompts), 11)
    assert len(table.prompts) > 2000 and np.all(table.cost > 0)
    assert set(table.tasks) == {"arc-challenge", "mbpp", "winogrande"}


def test_unknown_benchmark_raises() -> None:
    with pytest.raises(ConfigError, match="routerbench"):
        load_golden("nope", Path("."))


def test_cost_less_golden_data_routes_on_table_prices() -> None:
    records = [
        GoldenRecord(r.prompt, r.scores, task=r.task) for r in _synthetic_records(8)
    ]
    table = golden_table(records, prices={"cheap": 1.0, "mid": 2.0, "dear": 5.0})
    assert table.cost[0].tolist() == [1.0, 5.0, 2.0]  # models sorted: cheap, dear, mid
    result = cross_validate_multi(
        table,
        lambda: MultiModelRouter(embedder=HashingEmbedder(dim=32), dim=2, n_epochs=30),
        n_folds=2,
    )
    assert result.cheapest_model == "cheap"


def test_token_prices_give_per_prompt_costs_known_to_the_router() -> None:
    # Per-token prices make a long prompt dearer than a short one for the same
    # model, and (being a function of the prompt) they are what the router routes on.
    records = [
        GoldenRecord(r.prompt + " pad" * (40 * (i % 2)), r.scores, task=r.task)
        for i, r in enumerate(_synthetic_records(8))
    ]
    prices = {
        "cheap": ModelPrice(input_per_mtok=1.0, output_per_mtok=1.0),
        "mid": ModelPrice(input_per_mtok=3.0, output_per_mtok=3.0),
        "dear": ModelPrice(input_per_mtok=10.0, output_per_mtok=10.0),
    }
    table = golden_table(records, prices=prices)
    assert table.cost_source == "prices"
    cheap = table.models.index("cheap")
    lengths = np.array([len(p) for p in table.prompts])
    assert np.corrcoef(lengths, table.cost[:, cheap])[0, 1] > 0.99
    assert np.all(table.cost[:, table.models.index("dear")] > 9 * table.cost[:, cheap])
    result = cross_validate_multi(
        table,
        lambda: MultiModelRouter(embedder=HashingEmbedder(dim=32), dim=2, n_epochs=30),
        n_folds=2,
    )
    np.testing.assert_array_equal(result.predicted_cost, table.cost)
    assert result.cost_unit == "USD" and result.as_dict()["cost_source"] == "prices"


def test_cost_less_data_without_prices_is_counted_in_units() -> None:
    records = [
        GoldenRecord(r.prompt, r.scores, task=r.task) for r in _synthetic_records(6)
    ]
    table = golden_table(records)
    assert table.cost_source == "unit" and np.all(table.cost == 1.0)
    result = cross_validate_multi(
        table,
        lambda: MultiModelRouter(embedder=HashingEmbedder(dim=32), dim=2, n_epochs=20),
        n_folds=2,
    )
    assert result.cost_unit == "unit"


def test_golden_table_names_models_without_price() -> None:
    records = [
        GoldenRecord(r.prompt, r.scores, task=r.task) for r in _synthetic_records(2)
    ]
    with pytest.raises(ConfigError, match=r"no price for models \['mid'\]"):
        golden_table(records, prices={"cheap": 1.0, "dear": 2.0})


def test_prices_file_numbers_and_mappings(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "gpt-4o: {input_per_mtok: 2.5, output_per_mtok: 10}\nlocal: 0.0001\n",
        encoding="utf-8",
    )
    prices = load_prices_file(path)
    assert prices["gpt-4o"] == ModelPrice(input_per_mtok=2.5, output_per_mtok=10.0)
    assert prices["local"] == ModelPrice(per_query=0.0001)
    (tmp_path / "p.json").write_text('{"a": {"per_query": 1, "tokens": 3}}')
    with pytest.raises(ConfigError, match=r"model 'a'.*unknown price keys"):
        load_prices_file(tmp_path / "p.json")
    (tmp_path / "q.json").write_text('{"a": "cheap"}')
    with pytest.raises(ConfigError, match=r"model 'a': expected USD per query"):
        load_prices_file(tmp_path / "q.json")
    (tmp_path / "r.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must map model names"):
        load_prices_file(tmp_path / "r.json")


@pytest.mark.data
def test_llmrouter_benchmark_is_priced_by_its_listed_prices(data_dir: Path) -> None:
    prices = benchmark_prices("llmrouter", data_dir)
    assert prices is not None
    table = golden_table(load_golden("llmrouter", data_dir), prices=prices)
    assert len(table.models) == 9 and len(table.prompts) > 5000
    assert table.cost_source == "prices"
    # gemma-2-9b is listed at $0.10 / 1M tokens, the 49-70B models at $0.90.
    gemma = table.cost[:, table.models.index("gemma-2-9b-it")]
    big = table.cost[:, table.models.index("llama3-chatqa-1.5-70b")]
    np.testing.assert_allclose(big / gemma, 9.0)
    assert benchmark_prices("routerbench", data_dir) is None
