"""Recipe parsing: valid files in both formats, and errors that say what was wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefroute.errors import ConfigError
from prefroute.train.recipe import load_recipe, parse_recipe

RECIPES = Path(__file__).resolve().parents[3] / "examples" / "recipes"
DEFAULT = RECIPES / "default.yaml"


def test_default_recipe_parses() -> None:
    recipe = load_recipe(DEFAULT)
    kinds = [s.kind for s in recipe.sources]
    assert "routerbench" in kinds and "alpaca_eval" in kinds
    weights = {s.kind: s.weight for s in recipe.sources}
    assert weights["alpaca_eval"] < weights["routerbench"]  # judge prefs off or low
    assert recipe.decontamination.threshold == 0.95


def test_toml_recipe_parses(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        'seed = 3\nembedder = "hashing:64"\n'
        '[[sources]]\nkind = "jsonl"\npath = "b.jsonl"\nweight = 0.5\n'
    )
    recipe = load_recipe(path)
    assert recipe.seed == 3
    assert recipe.sources[0].weight == 0.5
    assert Path(recipe.base_dir) == tmp_path


def test_unknown_source_kind_is_named() -> None:
    with pytest.raises(ConfigError, match=r"kind must be one of .*got 'kaggle'"):
        parse_recipe({"sources": [{"kind": "kaggle"}]})


def test_unknown_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="sedd"):
        parse_recipe({"sedd": 1, "sources": [{"kind": "routerbench"}]})


def test_negative_weight_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"sources\.0\.weight"):
        parse_recipe({"sources": [{"kind": "routerbench", "weight": -1}]})


def test_empty_sources_are_refused() -> None:
    with pytest.raises(ConfigError, match="sources"):
        parse_recipe({"sources": []})


def test_bad_extension_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.ini"
    path.write_text("x")
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.toml"):
        load_recipe(path)


def test_yaml_syntax_error_names_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("sources: [\n")
    with pytest.raises(ConfigError, match="cannot parse recipe"):
        load_recipe(path)


def test_non_mapping_top_level_is_refused() -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_recipe(["routerbench"])


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("judge-only.yaml", {"alpaca_eval"}),
        (
            "all.yaml",
            {"routerbench", "routerdc", "llmrouter", "routeprofile", "alpaca_eval"},
        ),
    ],
)
def test_table2_mixture_recipes_parse(name: str, kinds: set[str]) -> None:
    recipe = load_recipe(RECIPES / name)
    assert {s.kind for s in recipe.sources if s.weight > 0} == kinds
    assert recipe.decontamination.enabled
