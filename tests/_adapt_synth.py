"""A synthetic deployment with known truth for the adaptation and OPE tests.

Every prompt carries a latent difficulty u in [-1, 1] that a fake embedder exposes in
one coordinate (the rest is noise); the strong and the weak model answer correctly
with known probabilities that depend on u. A starting router either sees u (good)
or not (random). `traffic` routes prompts with a starting router at a strong share,
explores with probability `explore`, and draws each answer's correctness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from prefroute.evals.metrics import exact_metrics, sort_scores
from prefroute.routers.base import Router
from prefroute.types import FloatArray

STRONG, WEAK = "strong-m", "weak-m"


def latent(prompt: str) -> float:
    """The prompt's difficulty in [-1, 1] (written into its text by `make_prompts`)."""
    return float(prompt.split("u=")[1].split(" ")[0])


def make_prompts(n: int, seed: int, tag: str = "") -> list[str]:
    """n prompts with uniform latent difficulty."""
    rng = np.random.default_rng(seed)
    return [
        f"question {tag}{seed}-{i} u={u:.4f} end"
        for i, u in enumerate(rng.uniform(-1, 1, n))
    ]


def truth(prompts: Sequence[str]) -> FloatArray:
    """P(correct) of (strong, weak) per prompt: the strong model's edge grows with u."""
    u = np.array([latent(p) for p in prompts])
    strong = 1 / (1 + np.exp(-(1.5 + 1.2 * u)))
    weak = 1 / (1 + np.exp(-(0.4 - 1.2 * u)))
    return np.stack([strong, weak], axis=1)


class LatentEmbedder:
    """Unit vectors whose first coordinate is the latent difficulty (plus noise)."""

    spec = "latent-test"

    def __init__(self, dim: int = 16, signal: float = 1.0) -> None:
        self.dim = dim
        self.signal = signal

    def embed(self, texts: Sequence[str]) -> FloatArray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(
                hashlib.blake2b(text.encode(), digest_size=4).digest(), "little"
            )
            v = np.random.default_rng(seed).normal(0, 0.3, self.dim)
            if "u=" in text:
                v[0] = self.signal * latent(text)
            out[i] = v / np.linalg.norm(v)
        return out


class LatentRouter(Router):
    """A starting router: sigmoid(sharpness * u) (sharpness 0 = uninformative)."""

    name = "latent-test"
    needs_fit = False

    def __init__(self, *, sharpness: float = 3.0, flip: bool = False) -> None:
        self.sharpness = sharpness
        self.flip = flip

    def score(self, prompts: Sequence[str]) -> FloatArray:
        u = np.array([latent(p) for p in prompts])
        noise = np.array(
            [
                int.from_bytes(
                    hashlib.blake2b(p.encode(), digest_size=4).digest(), "little"
                )
                / 2**32
                for p in prompts
            ]
        )
        z = self.sharpness * (-u if self.flip else u) + (noise - 0.5) * 0.5
        out: FloatArray = 1 / (1 + np.exp(-z))
        return out


def traffic(
    router: Router,
    prompts: Sequence[str],
    *,
    share: float = 0.5,
    explore: float = 0.0,
    seed: int = 0,
) -> tuple[list[str], np.ndarray, FloatArray]:
    """Route prompts with `router` at a strong share, exploring with prob `explore`.

    Returns:
        (model that answered, propensity, correctness) per prompt.
    """
    rng = np.random.default_rng(seed)
    scores = router.score(prompts)
    threshold = np.quantile(scores, 1 - share)
    policy = np.where(scores >= threshold, 0, 1)
    flip = rng.random(len(prompts)) < explore
    action = np.where(flip, rng.integers(0, 2, len(prompts)), policy)
    propensity = np.where(action == policy, 1 - explore / 2, explore / 2)
    q = truth(prompts)[np.arange(len(prompts)), action]
    reward = (rng.random(len(prompts)) < q).astype(float)
    models = [STRONG if a == 0 else WEAK for a in action]
    return models, propensity, reward


def true_apgr(scores: FloatArray, prompts: Sequence[str]) -> float:
    """APGR of scores against the expected correctness of both models."""
    q = truth(prompts)
    gain = q[:, 0] - q[:, 1]
    return float(
        exact_metrics(sort_scores(np.asarray(scores)), gain, np.ones((1, len(gain))))[
            "APGR"
        ][0]
    )


def write_log(
    path: object,
    prompts: Sequence[str],
    models: Sequence[str],
    propensity: Sequence[float],
    rewards: Sequence[float] | None,
    *,
    candidates: Sequence[str] = (STRONG, WEAK),
    policy: Sequence[str] | None = None,
    scores: Sequence[float] | None = None,
    costs: Sequence[float] | None = None,
    source: str = "user",
    router: str = "start",
) -> list[str]:
    """Write requests (and feedback when `rewards` is given) through the store API,
    as the server logs them; returns the request ids."""
    from prefroute.gateway.store import (
        FeedbackRecord,
        RequestRecord,
        open_store,
        prompt_hash,
    )

    store = open_store(str(path))
    ids: list[str] = []
    try:
        records = []
        for i, prompt in enumerate(prompts):
            rid = f"{i:08d}{abs(hash((str(path), prompt, i))) % 10**12:012d}"
            ids.append(rid)
            picked = policy[i] if policy is not None else models[i]
            records.append(
                RequestRecord(
                    request_id=rid,
                    ts=1_700_000_000.0 + i,
                    router=router,
                    threshold=0.5 if len(candidates) == 2 else None,
                    strong_share=None,
                    budget=None,
                    knob=None if len(candidates) == 2 else 1.0,
                    score=None if scores is None else float(scores[i]),
                    scores=None,
                    candidates=list(candidates),
                    routed_model=models[i],
                    policy_model=picked,
                    is_fallback=False,
                    is_exploration=picked != models[i],
                    propensity=float(propensity[i]),
                    status=200,
                    latency_ms=5.0,
                    prompt_tokens=10,
                    completion_tokens=5,
                    cost_usd=None if costs is None else float(costs[i]),
                    prompt_hash=prompt_hash(prompt),
                    prompt=prompt,
                )
            )
        store.write_requests(records)
        if rewards is not None:
            for rid, r in zip(ids, rewards, strict=True):
                store.put_feedback(
                    FeedbackRecord(rid, float(r), source, 1_800_000_000.0)
                )
    finally:
        store.close()
    return ids
