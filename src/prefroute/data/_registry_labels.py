"""Registry entries of the label sources: EloBench GPT-4-judged battles, and the
gemini-benchmark and ZeroEval CRUXEval golden labels (rows, sources, derived files).
"""

from __future__ import annotations

from prefroute.data._registry_files import (
    GITHUB_RAW,
    RemoteFile,
    Source,
    files_from_rows,
)

__all__ = ["LABEL_DERIVED_SHA256", "LABEL_SOURCES"]


# v-xchen-v/EloBench (no LICENSE file): (commit, result set, arrangement sha256 and
# size, battled-pairs sha256 and size)
_ELOBENCH_SETS: tuple[tuple[str, str, str, int, str, int], ...] = (
    (
        "838218bd847d27f838da0a15d4603e23cea2979e",
        "google_quora_alpaca_sharegpt_chat1m_clean_20772_fullset",
        "6245b2fac4a5471fe84b6c0fd8d2c7e0e931e747b3127829b54929a970a6c689",
        2676113,
        "64553b17888d80fa33d65360c1179b9f372b031ed0553a8041e2186ed9738fb5",
        792629,
    ),
    (
        "b4c72e38f5bf49d756f444811f505e3e01b282d9",
        "google_quora_alpaca_10629_test",
        "9ad618fa7becc6a76087f39d0f58dec0662be7913b58e3fbe7aee4b9c37750c7",
        2231652,
        "8ddec9174bad36c3248fdfb84de864b1fb68101792e829a413c8233ce353923b",
        966538,
    ),
    (
        "ce8ea54f853cdd70914d4f32f4e5126b35a504cf",
        "google_quora_alpaca_sharegpt_chat1m_21962_test1_smallset",
        "d64371d4f54e854be94cfd0c31df5eaa398c70cc361ca0a7dc0184539109a222",
        3604530,
        "26b815aa9e380781c04fdd5d531981a33b8182a89c70ce30b45af75fb9ff06b0",
        895880,
    ),
)

# neulab/gemini-benchmark @ 45d7e65 (no LICENSE file):
# outputs/<task>/<model>/output.jsonl
_GEMINI_ROWS: tuple[tuple[str, str | None, int | None], ...] = (
    (
        "outputs/HumanEval/gemini-pro/output.jsonl",
        "6f1fb86400fa2695b16754e0c587f3db78b89f7e69cc503c1a32fb6655b04a58",
        421624,
    ),
    (
        "outputs/HumanEval/gpt-3.5-turbo/output.jsonl",
        "d6d3d861d840be9d1ee62b9275ac3f925702ed1b0b1e0546b844cad698033d39",
        357077,
    ),
    (
        "outputs/HumanEval/gpt-4-turbo/output.jsonl",
        "1e530fe42ede4cbab0a288f8a2711b18b4dc6addde679163e95e31d56469399e",
        379508,
    ),
    (
        "outputs/HumanEval/mixtral/output.jsonl",
        "0859a8d05946c7bea075c60083149538a6079e0e1253574cf435b500239ca461",
        363784,
    ),
    (
        "outputs/ODEX/gemini-pro/output.jsonl",
        "a0f4f7a5c934b66822c8dfbe78ee1dab8bf5c780d5b3fade13a24d832ae7b50a",
        362247,
    ),
    (
        "outputs/ODEX/gpt-3.5-turbo/output.jsonl",
        "23fb6910da5daa45cc1fd71622562f9cc1e9ce9946adc6287d830b691b3d201a",
        349311,
    ),
    (
        "outputs/ODEX/gpt-4-turbo/output.jsonl",
        "abbcb9782bc80e1dd9e41e6f36fdb445bb9f0c52907e197153314044cf4f06da",
        391063,
    ),
    (
        "outputs/ODEX/mixtral/output.jsonl",
        "a02492472ab5ee9682f12acd6e025fa874c2a6937199b880452371b45d41a0fa",
        359620,
    ),
    (
        "outputs/mawpsmultiarith/gemini-pro/output.jsonl",
        "d75bc2299d62ebe701b07bd37a2e670349d4b2c29cf84d224d065ca5b98eb1c7",
        1893624,
    ),
    (
        "outputs/mawpsmultiarith/gpt-3.5-turbo/output.jsonl",
        "f0fbbbf461ad0431bf7ad0630f7ea1a7bad1e0c1e53996a42f736ee4cf36b34b",
        1899533,
    ),
    (
        "outputs/mawpsmultiarith/gpt-4-1106-preview/output.jsonl",
        "2d2b19e2e55b4325193a9b74a687398bb8e3cdb7b11099b73b5e338b2d8d0fec",
        1909325,
    ),
    (
        "outputs/mawpsmultiarith/mixtral/output.jsonl",
        "12d899168e81a244c3fa4aa7fdf64bca1092f1287d8c27900246c97ec8e58947",
        2488069,
    ),
    (
        "outputs/svamp/gemini-pro/output.jsonl",
        "c789bc9b78fbdc45d35d64f868e588647f53b1587ca11a18830db6a0871bcd0b",
        3183378,
    ),
    (
        "outputs/svamp/gpt-3.5-turbo/output.jsonl",
        "dd2979c61d46ce8034ccf126b3bc7ad2e447a74ff70214f2b40bd51dddf110d5",
        3191583,
    ),
    (
        "outputs/svamp/gpt-4-1106-preview/output.jsonl",
        "abfed36adde4c81a1d22bb5701729bd6bc9e0a5de4748dd95ce5f55008f4bb91",
        3235907,
    ),
    (
        "outputs/svamp/mixtral/output.jsonl",
        "f396bc1ebb11d4a695b8808d20ffec1066edb87a78e975b66a6fbe8d8bfe92c7",
        4148869,
    ),
)

# WildEval/ZeroEval @ 8c1485e (Apache-2.0): result_dirs/crux/<model>.json
_CRUX_ROWS: tuple[tuple[str, str | None, int | None], ...] = (
    (
        "crux/Meta-Llama-3-70B-Instruct.json",
        "ab26c3c16e10b9c949a628ba540fc18d3a996cba0a6413357632f5c9d55693db",
        2689175,
    ),
    (
        "crux/Meta-Llama-3-8B-Instruct.json",
        "18d047641a5a471fd561f7229d17b9fda24ed3ca321144912fe92c6c16cda525",
        2702613,
    ),
    (
        "crux/Mixtral-8x7B-Instruct-v0.1.json",
        "81d94e6307d297546ed3b632e26e1675db54050b58142c1b3d49c75b29336b84",
        2687708,
    ),
    (
        "crux/Qwen2-72B-Instruct.json",
        "3721fb628707630ecf0ad5f5e903a1482fc1e123af3b0509389a89e337fffeb0",
        2686133,
    ),
    (
        "crux/claude-3-haiku-20240307.json",
        "e929a1953c12c057224da4ac28c3f87e608cf57d22cb29f75598bbb7ee28821f",
        2224857,
    ),
    (
        "crux/gpt-3.5-turbo-0125.json",
        "5e8e595c29e412073c1a40f26de1c12a44945c4c399ee557021ce828767ee674",
        1890488,
    ),
    (
        "crux/gpt-4-0314.json",
        "06d34c8a8b5576d725789ac9c81712adcc9790d63282edbc599fff5572ba3149",
        1880833,
    ),
    (
        "crux/gpt-4-turbo-2024-04-09.json",
        "b88646cd4e00961dbccab4c39f7c7f5692593a026cf49a376c560defa9fea872",
        2022564,
    ),
    (
        "crux/gpt-4o-2024-05-13.json",
        "b96957e36d367d03879762f753477ced1e146d99edfcd608d7494551131aa79c",
        2077039,
    ),
    (
        "crux.summary.md",
        "8a6d4fd42116d27ccb6b11b134eb56b48d7939c9d27d77a3ff39e9d423c5c925",
        5160,
    ),
)
_CRUX_LICENSE_SHA256 = (
    "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4"
)

#: Files of the reference folder made from these sources, not upstream copies: the
#: EloBench join (questions matched to verdicts, 18 evaluation items removed) and
#: the CRUXEval correctness table scored from ZeroEval's outputs.
LABEL_DERIVED_SHA256: dict[str, str] = {
    "elobench/elobench_gpt4judge_battles.csv": (
        "76339010af004f60e85f1de7249ad25cff9f91f6536ffbe7591cde7faf6d980e"
    ),
    "zeroeval-crux/derived/crux_correctness_51models.csv": (
        "8e35ae56eb66983df24fc80df127f67d71b3e4f1dbf5bd419841a7572cc8bdbb"
    ),
    "zeroeval-crux/derived/crux_questions.jsonl": (
        "a168bd15c4e69c1e623f9cf8d87c69c7101923915b327702c3003397a7f42fb7"
    ),
    "zeroeval-crux/derived/crux_validation.csv": (
        "e94f31d058f384c2143338a67e5fd25523ea1c2d5baa8dfea7875d3f06e3db1f"
    ),
}


def _elobench_files() -> tuple[RemoteFile, ...]:
    out: list[RemoteFile] = []
    for commit, name, sha_a, size_a, sha_b, size_b in _ELOBENCH_SETS:
        for file, sha, size in (
            ("battle_arrangement.csv", sha_a, size_a),
            ("battled_pairs.csv", sha_b, size_b),
        ):
            rel = f"{commit}/results/{name}/{file}"
            out.append(
                RemoteFile(
                    GITHUB_RAW + "v-xchen-v/EloBench/" + rel,
                    "elobench/raw/" + rel,
                    sha,
                    size,
                )
            )
    return tuple(out)


LABEL_SOURCES: tuple[Source, ...] = (
    Source(
        name="elobench",
        description=(
            "EloBench: 45,502 GPT-4-judged pairwise battles of 23 chat models on "
            "10,599 real user questions (NQ, Quora, Alpaca, ShareGPT, LMSYS-Chat-1M)"
        ),
        license="no LICENSE file upstream; prompts under their sources' terms",
        homepage="https://github.com/v-xchen-v/EloBench",
        files=_elobench_files(),
        note=(
            "the loader joins each set's battled_pairs.csv to its "
            "battle_arrangement.csv by model sequence; the reference folder also "
            "holds that join (elobench_gpt4judge_battles.csv, 18 evaluation items "
            "removed)"
        ),
    ),
    Source(
        name="gemini-benchmark",
        description=(
            "per-question correctness of gpt-4-1106-preview, Mixtral-8x7B, "
            "gpt-3.5-turbo and gemini-pro on SVAMP, MultiArith, HumanEval, ODEX: the "
            "paper's exact pair, golden labels"
        ),
        license="no LICENSE file upstream; benchmarks under their own licences",
        homepage="https://github.com/neulab/gemini-benchmark",
        files=files_from_rows(
            GITHUB_RAW + "neulab/gemini-benchmark/45d7e65/",
            "gemini-benchmark",
            _GEMINI_ROWS,
        ),
    ),
    Source(
        name="zeroeval-crux",
        description=(
            "ZeroEval CRUXEval outputs (800 code-reasoning problems) of 9 models incl. "
            "gpt-4-0314, gpt-4-turbo and Mixtral-8x7B"
        ),
        license="Apache-2.0",
        homepage="https://github.com/WildEval/ZeroEval",
        files=(
            *files_from_rows(
                GITHUB_RAW + "WildEval/ZeroEval/8c1485e/result_dirs/",
                "zeroeval-crux/raw",
                _CRUX_ROWS,
            ),
            RemoteFile(
                GITHUB_RAW + "WildEval/ZeroEval/8c1485e/LICENSE",
                "zeroeval-crux/LICENSE",
                _CRUX_LICENSE_SHA256,
                11357,
            ),
        ),
        note=(
            "the loader reads the correctness table zeroeval-crux/derived/ of the "
            "reference folder (51 models, scored from ZeroEval's outputs by string "
            "match and validated against its published accuracies); it is not an "
            "upstream file"
        ),
    ),
)
