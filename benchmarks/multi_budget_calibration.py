"""Does `router-mf-multi@<budget>` spend its budget on traffic it was not trained on?

The shipped `mf-multi` with the README's three prices routes the AlpacaEval
instructions (open-ended chat, unlike its training prompts) at several mean-USD
budgets: once calibrated on its stored training prompts (the default), once after
`recalibrate` on a random half of the instructions, scored on the other half (and
on the half it was calibrated on). Prints the mean predicted cost per request and
the share of each model. Costs are the router's price model (input tokens from the
prompt length, 256 expected output tokens), not billed amounts.

Usage:
    PREFROUTE_DATA_DIR=/path/to/data .venv/bin/python \\
        benchmarks/multi_budget_calibration.py [--budgets 0.001,0.002,0.004]
"""

from __future__ import annotations

import argparse
import copy
import json
from collections import Counter

import numpy as np

from prefroute.config import resolve_data_dir
from prefroute.routers import load_router
from prefroute.routers.policy import ModelPrice

PRICES = {  # README, "Routing among N models with prices"
    "gpt-4-1106-preview": ModelPrice(input_per_mtok=10, output_per_mtok=30),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": ModelPrice(
        input_per_mtok=0.6, output_per_mtok=0.6
    ),
    "zero-one-ai/Yi-34B-Chat": ModelPrice(input_per_mtok=0.8, output_per_mtok=0.8),
}


def main() -> None:
    """Route both halves at each budget, before and after recalibration."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="0.001,0.002,0.004")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    budgets = [float(b) for b in args.budgets.split(",")]
    root = resolve_data_dir(None)
    path = root / "alpaca-eval" / "instructions_805.json"
    texts = [str(t) for t in json.loads(path.read_text(encoding="utf-8"))]
    order = np.random.default_rng(args.seed).permutation(len(texts))
    half = len(texts) // 2
    calib = [texts[i] for i in order[:half]]
    held = [texts[i] for i in order[half:]]

    shipped = load_router("mf-multi")
    tuned = copy.deepcopy(shipped)
    tuned.recalibrate(calib)
    models = list(PRICES)
    print(
        f"{len(calib)} calibration / {len(held)} held-out AlpacaEval instructions; "
        f"models {models}"
    )
    print("| calibrated on | scored on | budget | mean cost | vs budget | shares |")
    print("|---|---|---|---|---|---|")
    for label, router in (("training prompts", shipped), ("half A", tuned)):
        for scored_label, prompts in (("half B (held out)", held), ("half A", calib)):
            costs = router.predict_costs(prompts, models, PRICES)
            for budget in budgets:
                picks = router.choose(prompts, PRICES, target_cost=budget)
                cols = [models.index(m) for m in picks]
                mean = float(costs[np.arange(len(prompts)), cols].mean())
                counts = Counter(picks)
                shares = ", ".join(
                    f"{m.split('/')[-1]} {counts[m] / len(picks):.0%}" for m in models
                )
                print(
                    f"| {label} | {scored_label} | ${budget:g} | ${mean:.5f} | "
                    f"{mean / budget:.2f}x | {shares} |"
                )


if __name__ == "__main__":
    main()
