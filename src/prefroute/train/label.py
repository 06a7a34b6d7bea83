"""Label generation: the paper's judge augmentation (RouteLLM section 3.2, "LLM judge")
for users with their own prompts and endpoints.

For each prompt, the strong and the weak model answer (or existing answers are
used), then a judge model behind any OpenAI-compatible endpoint gives a graded
pairwise verdict in the MT-Bench / Arena-Hard style: [[A>>B]], [[A>B]], [[A=B]],
[[B>A]] or [[B>>A]]. Which model is shown as "A" is drawn per prompt from a hash of
(seed, prompt key), so it does not depend on order or resumption; the verdict is
mapped back to the strong model's point of view and written as a battle
(`model_a` = strong, `model_b` = weak) with a soft label `p_a`:

    strong much better 1.0, better 0.75, tie 0.5, worse 0.25, much worse 0.0.

Output is a battles JSONL file (`prefroute.data.battles.load_battles_jsonl` reads
it; extra keys `id`, `position`, `verdict`, `judge` are for auditing and resuming),
appended and flushed one record at a time. A rerun skips prompts already written
(keyed by a hash of the conversation), so an interrupted run resumes. A judge answer
with no verdict is retried once, then recorded in `<output stem>.skipped.jsonl`.
Ctrl-C cancels the requests in flight and raises `LabelInterrupted` (a
`KeyboardInterrupt`) carrying the report of what was saved.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prefroute._unicode import json_line
from prefroute.data.prompts import messages_from_record, prompt_from_record
from prefroute.errors import ConfigError, DataError, UpstreamError
from prefroute.train._openai_http import (
    AsyncChatClient,
    ChatResult,
    RequestBudgetExhaustedError,
    auth_headers,
)
from prefroute.types import Winner

__all__ = [
    "VERDICTS",
    "EndpointSpec",
    "LabelConfig",
    "LabelInterrupted",
    "LabelItem",
    "LabelReport",
    "RoleUsage",
    "build_judge_messages",
    "label_battles",
    "label_item",
    "load_label_config",
    "parse_verdict",
    "position_swapped",
    "read_label_inputs",
    "skipped_path",
    "verdict_to_label",
]

logger = logging.getLogger(__name__)

Verdict = Literal["A>>B", "A>B", "A=B", "B>A", "B>>A"]
VERDICTS: tuple[Verdict, ...] = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
Role = Literal["strong", "weak", "judge"]
ROLES: tuple[Role, ...] = ("strong", "weak", "judge")

# Credit of assistant A per verdict (RouteLLM turns graded verdicts into labels).
_CREDIT_A: dict[Verdict, float] = {
    "A>>B": 1.0,
    "A>B": 0.75,
    "A=B": 0.5,
    "B>A": 0.25,
    "B>>A": 0.0,
}
_VERDICT_RE = re.compile(r"\[\[\s*([AB])\s*(>>|>|=|<<|<)\s*([AB])\s*\]\]")
_LETTER_RE = re.compile(r"\[\[\s*([ABC])\s*\]\]")

_JUDGE_SYSTEM = (
    "You are an impartial judge. Compare the answers of two AI assistants, A and B, "
    "to the user conversation shown. First write a short explanation weighing "
    "correctness, helpfulness, relevance, depth and clarity; check facts and "
    "reasoning yourself. The order in which the answers appear, their length and "
    "the assistants' names must not influence you. Then give your final verdict on "
    "the last line, strictly in one of these forms: [[A>>B]] if A is much better, "
    "[[A>B]] if A is better, [[A=B]] if they are about as good, [[B>A]] if B is "
    "better, [[B>>A]] if B is much better."
)
_JUDGE_TEMPLATE = (
    "<|Conversation|>\n{conversation}\n<|End of Conversation|>\n\n"
    "<|Assistant A's Answer|>\n{answer_a}\n<|End of Assistant A's Answer|>\n\n"
    "<|Assistant B's Answer|>\n{answer_b}\n<|End of Assistant B's Answer|>"
)
_RETRY_JUDGE_TEMPERATURE = 0.7


class EndpointSpec(BaseModel):
    """One model behind an OpenAI-compatible endpoint.

    Attributes:
        model: Model name sent in requests and written into battles.
        base_url: Base URL (".../v1"); may be None when every prompt already has
            this model's answer.
        api_key_env: Name of the environment variable holding the key (None: none).
        price_in: USD per 1M prompt tokens.
        price_out: USD per 1M completion tokens.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    price_in: float = Field(default=0.0, ge=0.0)
    price_out: float = Field(default=0.0, ge=0.0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s):// URL, got {value!r}")
        return value


class LabelConfig(BaseModel):
    """Settings of a labelling run.

    Attributes:
        strong: The strong model.
        weak: The weak model.
        judge: The judge model.
        concurrency: HTTP requests in flight at once.
        max_retries: Retries after connection errors, timeouts, 429 and 5xx.
        backoff: First retry delay in seconds (doubles each retry).
        timeout: Seconds per HTTP request.
        seed: Seed of the per-prompt A/B position draw.
        temperature: Sampling temperature of the strong and weak answers.
        max_tokens: Completion token limit of the strong and weak answers.
        judge_max_tokens: Completion token limit of the judge (explanation + verdict).
        max_requests: Stop cleanly after this many HTTP requests (None: no limit).
        source: The battles' `source` field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strong: EndpointSpec
    weak: EndpointSpec
    judge: EndpointSpec
    concurrency: int = Field(default=8, ge=1)
    max_retries: int = Field(default=4, ge=0)
    backoff: float = Field(default=1.0, ge=0.0)
    timeout: float = Field(default=120.0, gt=0.0)
    seed: int = 0
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=1024, ge=1)
    judge_max_tokens: int = Field(default=1024, ge=1)
    max_requests: int | None = Field(default=None, ge=0)
    source: str = "label"


def load_label_config(data: dict[str, Any], origin: str = "config") -> LabelConfig:
    """Validate a plain mapping (parsed YAML merged with CLI flags) into a LabelConfig.

    Args:
        data: The settings.
        origin: Where they came from, for the error message.

    Returns:
        The config.

    Raises:
        ConfigError: A missing or invalid setting (the message lists them).
    """
    try:
        return LabelConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid label settings in {origin}: {problems}") from None


@dataclass(frozen=True, slots=True)
class LabelItem:
    """One prompt to label.

    Attributes:
        key: Hex SHA-256 of the canonical conversation (the resume key).
        prompt: The last user turn (the battle's prompt).
        messages: The conversation sent to the strong and weak models.
        strong_response: An existing strong answer (no request then).
        weak_response: An existing weak answer.
    """

    key: str
    prompt: str
    messages: tuple[dict[str, str], ...]
    strong_response: str | None = None
    weak_response: str | None = None


def _conversation_key(messages: Sequence[dict[str, str]]) -> str:
    canonical = json.dumps(
        [[m["role"], m["content"]] for m in messages],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _item_from_obj(obj: dict[str, Any], where: str) -> LabelItem:
    if "messages" in obj:
        messages = messages_from_record(obj, where)
        prompt = prompt_from_record(obj, where)  # the last user turn with text
    elif isinstance(obj.get("prompt"), str) and obj["prompt"].strip():
        prompt = obj["prompt"]
        messages = [{"role": "user", "content": prompt}]
    else:
        prompt = prompt_from_record(obj, where)  # the other prompt keys
        if not prompt.strip():
            raise DataError(
                f"{where}: expected a non-empty string 'prompt' or a 'messages' "
                f"list, got keys {sorted(obj)}"
            )
        messages = [{"role": "user", "content": prompt}]
    responses: dict[str, str | None] = {}
    for name in ("strong_response", "weak_response"):
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise DataError(
                f"{where}: field {name!r}: expected a string, got {value!r:.80}"
            )
        responses[name] = value
    return LabelItem(
        key=_conversation_key(messages),
        prompt=prompt,
        messages=tuple(messages),
        strong_response=responses["strong_response"],
        weak_response=responses["weak_response"],
    )


def label_item(prompt: str) -> LabelItem:
    """The item for one user prompt (a one-turn conversation).

    Args:
        prompt: The prompt.

    Returns:
        The item (its key is the resume key `label_battles` writes).
    """
    return _item_from_obj({"prompt": prompt}, "prompt")


def read_label_inputs(path: Path | str) -> list[LabelItem]:
    """Read prompts to label from a prompt file (`prefroute.data.prompts`).

    Each record holds `prompt` (a string) or `messages` (OpenAI chat messages;
    text content parts are joined), and optionally `strong_response` /
    `weak_response` (answers that exist already); plain-text, CSV and JSON-list
    prompt files work too. Repeated conversations are kept once.

    Args:
        path: The prompt file (usually JSONL).

    Returns:
        The items, in file order.

    Raises:
        DataError: Missing file, bad JSON or a malformed record (names file and line).
    """
    from prefroute.data.prompts import iter_prompt_records

    path = Path(path)
    if not path.is_file():
        raise DataError(f"prompts file {str(path)!r} does not exist")
    items: list[LabelItem] = []
    seen: set[str] = set()
    for record in iter_prompt_records(path):
        item = _item_from_obj(record.fields, record.where)
        if item.key not in seen:
            seen.add(item.key)
            items.append(item)
    return items


def position_swapped(key: str, seed: int) -> bool:
    """Whether the weak model's answer is shown as assistant A for this prompt.

    Args:
        key: The item's key.
        seed: The run's seed.

    Returns:
        A fair, reproducible coin flip of (seed, key).
    """
    digest = hashlib.blake2b(key.encode(), digest_size=8, key=str(seed).encode()[:64])
    return bool(digest.digest()[0] & 1)


def parse_verdict(text: str | None) -> Verdict | None:
    """The judge's final verdict, in assistant A/B terms.

    Accepts the graded forms ([[A>>B]] ... [[B>>A]], also written with "<") and,
    as a fallback, MT-Bench's [[A]] / [[B]] / [[C]] (tie). The last one wins.

    Args:
        text: The judge's answer.

    Returns:
        One of VERDICTS, or None when there is no verdict.
    """
    if not text:
        return None
    graded = _VERDICT_RE.findall(text)
    if graded:
        left, op, right = graded[-1]
        if left == right:
            return None
        if op in ("<", "<<"):
            left, right, op = right, left, op.replace("<", ">")
        if op == "=":
            return "A=B"
        return f"{left}{op}{right}"  # type: ignore[return-value]
    letters = _LETTER_RE.findall(text)
    if letters:
        return {"A": "A>B", "B": "B>A", "C": "A=B"}[letters[-1]]  # type: ignore[return-value]
    return None


def verdict_to_label(verdict: Verdict, swapped: bool) -> tuple[Winner, float]:
    """Map an A/B verdict back to (winner, p_a) with strong as `model_a`.

    Args:
        verdict: The judge's verdict about assistants A and B.
        swapped: True when the weak model was shown as A.

    Returns:
        The battle winner ("a" = strong, "b" = weak, "tie") and P(strong wins).
    """
    credit_a = _CREDIT_A[verdict]
    p_strong = 1.0 - credit_a if swapped else credit_a
    winner: Winner = "a" if p_strong > 0.5 else "b" if p_strong < 0.5 else "tie"
    return winner, p_strong


def _render(messages: Sequence[dict[str, str]]) -> str:
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def build_judge_messages(
    item: LabelItem, answer_a: str, answer_b: str
) -> list[dict[str, str]]:
    """The judge's chat messages for one comparison.

    Args:
        item: The prompt.
        answer_a: The answer shown as assistant A.
        answer_b: The answer shown as assistant B.

    Returns:
        System and user messages.
    """
    user = _JUDGE_TEMPLATE.format(
        conversation=_render(item.messages), answer_a=answer_a, answer_b=answer_b
    )
    return [
        {"role": "system", "content": _JUDGE_SYSTEM},
        {"role": "user", "content": user},
    ]


def skipped_path(output: Path) -> Path:
    """Where prompts without a judge verdict are recorded: `<stem>.skipped.jsonl`."""
    return output.with_name(output.stem + ".skipped.jsonl")


@dataclass
class RoleUsage:
    """Token counts and cost of one role's requests in this run."""

    n_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    n_missing_usage: int = 0


@dataclass
class LabelReport:
    """What a labelling run did.

    Attributes:
        n_prompts: Distinct prompts in the input.
        n_already_done: Prompts found in the output (or skipped file) and not redone.
        n_written: Battles written in this run.
        n_skipped: Prompts recorded as skipped (no judge verdict after one retry).
        n_judge_retries: Judge answers without a verdict that were asked again.
        n_remaining: Prompts left undone (request budget reached, an error or an
            interruption).
        n_requests: HTTP requests sent (attempts, retries included).
        n_requests_planned: Requests the undone prompts need without retries.
        stopped_early: True when the request budget stopped the run.
        is_interrupted: True when Ctrl-C (or a cancellation) stopped the run.
        usage: Role -> token counts and cost in this run.
    """

    n_prompts: int = 0
    n_already_done: int = 0
    n_written: int = 0
    n_skipped: int = 0
    n_judge_retries: int = 0
    n_remaining: int = 0
    n_requests: int = 0
    n_requests_planned: int = 0
    stopped_early: bool = False
    is_interrupted: bool = False
    usage: dict[str, RoleUsage] = field(
        default_factory=lambda: {r: RoleUsage() for r in ROLES}
    )

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens over all roles."""
        return sum(u.prompt_tokens for u in self.usage.values())

    @property
    def completion_tokens(self) -> int:
        """Completion tokens over all roles."""
        return sum(u.completion_tokens for u in self.usage.values())

    @property
    def cost(self) -> float:
        """USD over all roles, from the configured per-1M-token prices."""
        return sum(u.cost for u in self.usage.values())


class LabelInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a labelling run; every finished prompt is already saved.

    A `KeyboardInterrupt`, so callers that catch that still stop.

    Attributes:
        report: What the run did up to the interruption (`is_interrupted` set).
    """

    def __init__(self, report: LabelReport) -> None:
        """Keep the report of the interrupted run."""
        super().__init__(
            f"labelling interrupted after writing {report.n_written} battles"
        )
        self.report = report


def _recover_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read an append-only JSONL file, cutting a last line left partial by a crash."""
    if not path.is_file():
        return []
    raw = path.read_bytes()
    records: list[dict[str, Any]] = []
    good_end = 0
    offset = 0
    for line in raw.splitlines(keepends=True):
        offset += len(line)
        if not line.strip():
            good_end = offset
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            if offset == len(raw):
                logger.warning(
                    "%s: dropping a partial last line from an interrupted run", path
                )
                break
            raise DataError(
                f"{path}: a line is not JSON ({exc.msg}); fix or remove it"
            ) from exc
        # valid JSON but unterminated (-1): terminate it below
        good_end = offset if line.endswith(b"\n") else -1
        if isinstance(obj, dict):
            records.append(obj)
    if good_end == -1:
        with path.open("ab") as handle:
            handle.write(b"\n")
    elif good_end < len(raw):
        with path.open("r+b") as handle:
            handle.truncate(good_end)
    return records


def _done_keys(output: Path, *, retry_skipped: bool) -> set[str]:
    keys: set[str] = set()
    for obj in _recover_jsonl(output):
        if isinstance(obj.get("id"), str):
            keys.add(obj["id"])
        elif isinstance(obj.get("prompt"), str):
            keys.add(_conversation_key([{"role": "user", "content": obj["prompt"]}]))
    skipped = _recover_jsonl(skipped_path(output))
    if not retry_skipped:
        keys |= {obj["id"] for obj in skipped if isinstance(obj.get("id"), str)}
    return keys


def _check_endpoints(config: LabelConfig, todo: Sequence[LabelItem]) -> None:
    needs: dict[Role, bool] = {
        "strong": any(i.strong_response is None for i in todo),
        "weak": any(i.weak_response is None for i in todo),
        "judge": bool(todo),
    }
    for role, needed in needs.items():
        spec: EndpointSpec = getattr(config, role)
        if needed and not spec.base_url:
            why = (
                "the judge must be asked" if role == "judge" else "answers are missing"
            )
            raise ConfigError(
                f"the {role} model {spec.model!r} needs a base_url: {why}"
            )


class _Run:
    """State of one labelling run (single event loop, so no locks)."""

    def __init__(
        self,
        config: LabelConfig,
        output: Path,
        report: LabelReport,
        on_progress: Callable[[LabelReport], None] | None,
    ) -> None:
        self.config = config
        self.output = output
        self.report = report
        self.on_progress = on_progress
        self.headers = {
            r: auth_headers(getattr(config, r).api_key_env, r) for r in ROLES
        }
        self.stop = False
        self.error: BaseException | None = None

    def _account(self, role: Role, result: ChatResult) -> None:
        spec: EndpointSpec = getattr(self.config, role)
        usage = self.report.usage[role]
        usage.n_calls += 1
        usage.prompt_tokens += result.prompt_tokens
        usage.completion_tokens += result.completion_tokens
        usage.n_missing_usage += int(not result.has_usage)
        usage.cost += (
            result.prompt_tokens * spec.price_in
            + result.completion_tokens * spec.price_out
        ) / 1e6

    async def _ask(
        self,
        client: AsyncChatClient,
        role: Role,
        messages: Sequence[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
    ) -> str:
        spec: EndpointSpec = getattr(self.config, role)
        assert spec.base_url is not None
        result = await client.chat(
            spec.base_url,
            self.headers[role],
            spec.model,
            messages,
            temperature=temperature,
            max_tokens=max_tokens,
        )
        self._account(role, result)
        return result.text or ""

    async def _answer(
        self, client: AsyncChatClient, role: Role, item: LabelItem
    ) -> str:
        existing = item.strong_response if role == "strong" else item.weak_response
        if existing is not None:
            return existing
        return await self._ask(
            client,
            role,
            item.messages,
            temperature=self.config.temperature,
            max_tokens=self.config.max_tokens,
        )

    async def process(self, client: AsyncChatClient, item: LabelItem) -> dict[str, Any]:
        strong, weak = await asyncio.gather(
            self._answer(client, "strong", item), self._answer(client, "weak", item)
        )
        swapped = position_swapped(item.key, self.config.seed)
        answer_a, answer_b = (weak, strong) if swapped else (strong, weak)
        messages = build_judge_messages(item, answer_a, answer_b)
        text = ""
        verdict: Verdict | None = None
        for attempt in range(2):
            if attempt:
                self.report.n_judge_retries += 1
            text = await self._ask(
                client,
                "judge",
                messages,
                temperature=(
                    _RETRY_JUDGE_TEMPERATURE if attempt else self.config.temperature
                ),
                max_tokens=self.config.judge_max_tokens,
            )
            verdict = parse_verdict(text)
            if verdict is not None:
                break
        position = "weak_first" if swapped else "strong_first"
        if verdict is None:
            return {
                "id": item.key,
                "prompt": item.prompt,
                "reason": "judge gave no verdict after one retry",
                "judge_output": text[-2000:],
                "position": position,
                "judge": self.config.judge.model,
            }
        winner, p_strong = verdict_to_label(verdict, swapped)
        return {
            "prompt": item.prompt,
            "model_a": self.config.strong.model,
            "model_b": self.config.weak.model,
            "winner": winner,
            "source": self.config.source,
            "weight": 1.0,
            "p_a": p_strong,
            "id": item.key,
            "position": position,
            "verdict": verdict,
            "judge": self.config.judge.model,
        }

    async def worker(
        self,
        client: AsyncChatClient,
        queue: asyncio.Queue[LabelItem],
        out: Any,
        skipped: Any,
    ) -> None:
        while not self.stop:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                record = await self.process(client, item)
            except RequestBudgetExhaustedError:
                self.stop = True
                self.report.stopped_early = True
                return
            except (UpstreamError, ConfigError) as exc:
                self.stop = True
                self.error = self.error or exc
                return
            handle = skipped if "reason" in record else out
            handle.write(json_line(record) + "\n")
            handle.flush()
            if "reason" in record:
                self.report.n_skipped += 1
            else:
                self.report.n_written += 1
            self.report.n_requests = client.n_requests
            if self.on_progress is not None:
                self.on_progress(self.report)


async def _label_async(
    todo: Sequence[LabelItem], config: LabelConfig, output: Path, run: _Run
) -> None:
    import httpx

    queue: asyncio.Queue[LabelItem] = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=config.concurrency)
    output.parent.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(timeout=config.timeout, limits=limits) as http:
        client = AsyncChatClient(
            http,
            concurrency=config.concurrency,
            max_retries=config.max_retries,
            backoff=config.backoff,
            max_requests=config.max_requests,
        )
        try:
            # Each record is written and flushed with no await in between, so a
            # cancellation (Ctrl-C) never leaves a finished prompt unsaved.
            with (
                output.open("a", encoding="utf-8") as out,
                skipped_path(output).open("a", encoding="utf-8") as skipped,
            ):
                workers = [
                    asyncio.create_task(run.worker(client, queue, out, skipped))
                    for _ in range(min(config.concurrency, len(todo)))
                ]
                await asyncio.gather(*workers)
        finally:
            run.report.n_requests = client.n_requests


def label_battles(
    items: Sequence[LabelItem],
    config: LabelConfig,
    output: Path | str,
    *,
    retry_skipped: bool = False,
    dry_run: bool = False,
    on_progress: Callable[[LabelReport], None] | None = None,
) -> LabelReport:
    """Answer, judge and write battles for every item not yet in `output`.

    Args:
        items: Prompts to label (from `read_label_inputs`).
        config: Endpoints and limits.
        output: Battles JSONL file, appended to (created if needed).
        retry_skipped: Redo prompts recorded in the skipped file.
        dry_run: Count what would be done and return without any request.
        on_progress: Called with the running report after each finished prompt.

    Returns:
        The report (counts, tokens, cost of this run).

    Raises:
        ConfigError: A needed endpoint has no base_url, or an API key is unset.
        UpstreamError: An endpoint kept failing; finished prompts are already saved,
            so a rerun resumes.
        LabelInterrupted: Ctrl-C (or a cancellation) stopped the run; finished
            prompts are saved and its `report` says how many.
    """
    output = Path(output)
    done = _done_keys(output, retry_skipped=retry_skipped)
    todo = [item for item in items if item.key not in done]
    report = LabelReport(n_prompts=len(items), n_already_done=len(items) - len(todo))
    report.n_remaining = len(todo)
    report.n_requests_planned = sum(
        1 + (i.strong_response is None) + (i.weak_response is None) for i in todo
    )
    if dry_run or not todo:
        return report
    _check_endpoints(config, todo)
    if retry_skipped and skipped_path(output).is_file():
        redo = {i.key for i in todo}
        kept = [
            o for o in _recover_jsonl(skipped_path(output)) if o.get("id") not in redo
        ]
        skipped_path(output).write_text(
            "".join(json_line(o) + "\n" for o in kept),
            encoding="utf-8",
        )
    run = _Run(config, output, report, on_progress)
    try:
        asyncio.run(_label_async(todo, config, output, run))
    except (KeyboardInterrupt, asyncio.CancelledError) as exc:
        # asyncio.run turns Ctrl-C into a cancellation of the run, which closes the
        # output files, then re-raises KeyboardInterrupt (or CancelledError).
        report.is_interrupted = True
        report.n_remaining = len(todo) - report.n_written - report.n_skipped
        raise LabelInterrupted(report) from exc
    report.n_remaining = len(todo) - report.n_written - report.n_skipped
    if run.error is not None:
        logger.warning(
            "stopped by an error after writing %d battles (%d skipped); "
            "finished prompts are saved, rerun to resume",
            report.n_written,
            report.n_skipped,
        )
        raise run.error
    return report
