"""The registry of public data sources: what `prefroute data download` fetches.

Files copied unchanged into the reference data folder have a known sha256 (computed
from those copies) and are verified; files whose upstream version differs from the
reference copy have no checksum. `prefroute.data.download` fetches them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DERIVED_SHA256", "SOURCES", "RemoteFile", "Source"]


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file of a source.

    Attributes:
        url: Where to fetch it.
        path: Destination relative to the data directory (the loaders' layout).
        sha256: Expected hex digest, or None when unknown.
        size: Expected size in bytes, or None when unknown.
    """

    url: str
    path: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """A public data source.

    Attributes:
        name: Registry name (``prefroute data download NAME``).
        description: What it holds and what prefroute uses it for.
        license: Licence of the data, as stated upstream.
        homepage: Upstream project.
        files: The files to fetch.
        note: Caveats (derived files, filtering, licences to check).
    """

    name: str
    description: str
    license: str
    homepage: str
    files: tuple[RemoteFile, ...]
    note: str = ""


def _files(
    base_url: str, folder: str, rows: Iterable[tuple[str, str | None, int | None]]
) -> tuple[RemoteFile, ...]:
    return tuple(
        RemoteFile(url=base_url + rel, path=f"{folder}/{rel}", sha256=sha, size=size)
        for rel, sha, size in rows
    )


_GH = "https://raw.githubusercontent.com/"

# lm-sys/RouteLLM @ 0b64fda, routellm/evals/ (Apache-2.0)
_ROUTELLM_ROWS: tuple[tuple[str, str | None, int | None], ...] = (
    (
        "gsm8k/contaminated_prompts.jsonl",
        "1f5a7be02148ee0f7f306d233ba76a6573c826cee9499a34f8ef938a1a84c234",
        6282,
    ),
    (
        "mmlu/contaminated_prompts.jsonl",
        "9606c968198eabf5efa46ccba31286392c8e35525d83c86661618ffc5ec6d40e",
        4498,
    ),
    (
        "mmlu/responses/mmlu_abstract_algebra.csv",
        "67e564eea42e71fbfcaf616972df952c316e5538376da1c16d691177458b96b9",
        20003,
    ),
    (
        "mmlu/responses/mmlu_anatomy.csv",
        "53ebea8257805eeecc25713728264b8235cffad7b720962a3eafc92fd27ef537",
        33922,
    ),
    (
        "mmlu/responses/mmlu_astronomy.csv",
        "49915ece9dfe8aadbd351f221ada2ea86b6f832ce49fa64d1622a0f066c19794",
        47647,
    ),
    (
        "mmlu/responses/mmlu_business_ethics.csv",
        "13a45bed754ffe8f0e7f0348e69085c648a1ae0e91aa76cd5e6906fa45f7ec8e",
        33854,
    ),
    (
        "mmlu/responses/mmlu_clinical_knowledge.csv",
        "5ea37709bfbad4df7a3fcbd8973413f7645a2adfef9772490f09d3f293ffe882",
        64226,
    ),
    (
        "mmlu/responses/mmlu_college_biology.csv",
        "c38620db5b9f6f1b0fde7bc8d8299b8e2305c4dacbb1567c904cd51618d627d5",
        49612,
    ),
    (
        "mmlu/responses/mmlu_college_chemistry.csv",
        "78ca6ba22ff25c8fdb93e1c6e84384e72522106c73ed5ee9fed620928ce395ce",
        25362,
    ),
    (
        "mmlu/responses/mmlu_college_computer_science.csv",
        "8a7b2a87a36b428c9d1a8f12ce3b01cf7920f0a7146d6f8a111da6749c332da3",
        43299,
    ),
    (
        "mmlu/responses/mmlu_college_mathematics.csv",
        "3f22f42779c48509c66e21d7d1fc3054eb0256c1b5b772bb6d9a3af1b253238b",
        25385,
    ),
    (
        "mmlu/responses/mmlu_college_medicine.csv",
        "63d71d29e630fc6538e1705a51f4267bdbbdea0fa7ee85056ad7d6f8f10d3987",
        83407,
    ),
    (
        "mmlu/responses/mmlu_college_physics.csv",
        "8162a0660d4ef7b963088e0a176d4b8630096127a0d0b5ed003f649cbad34455",
        30851,
    ),
    (
        "mmlu/responses/mmlu_computer_security.csv",
        "26446faf7460f03aa2d82a05c170faedb5cbf6d7bdda133b1146229107097d1c",
        27712,
    ),
    (
        "mmlu/responses/mmlu_conceptual_physics.csv",
        "ea40473704b64cb60d564ffe91962848ec6fc3106b40089d08cebc98d5c7226d",
        42034,
    ),
    (
        "mmlu/responses/mmlu_econometrics.csv",
        "927b4d877cec8697f3b8378bb7e7c7a279babaea2edacf350ea50908701907b9",
        47278,
    ),
    (
        "mmlu/responses/mmlu_electrical_engineering.csv",
        "de2fb7c2e9addb4808f5b3f7c79efbfdfb86216235bb7dc28ab70bc53664f11e",
        26003,
    ),
    (
        "mmlu/responses/mmlu_elementary_mathematics.csv",
        "88697ff0d238b5852c7a959379dc8b0b45c3554ed4b2ee7cbb7ffc34e06c7cf5",
        72419,
    ),
    (
        "mmlu/responses/mmlu_formal_logic.csv",
        "094a462626468569ad595c03e66e73a299188cfa175248b499dba94e005506e6",
        50588,
    ),
    (
        "mmlu/responses/mmlu_global_facts.csv",
        "6f75ddf7d6eb94ac0471529a85ff7f8b738c9f4055185b3114eed26393222d06",
        19055,
    ),
    (
        "mmlu/responses/mmlu_high_school_biology.csv",
        "444982fc2c750ab8cbc6942a0c0267040aa5023c1d2364247d20e2a28b4e325d",
        111417,
    ),
    (
        "mmlu/responses/mmlu_high_school_chemistry.csv",
        "ae5e62479365dcd056354c568f60da65b1df9f1de57dda3953a8e9933a6f12e4",
        59694,
    ),
    (
        "mmlu/responses/mmlu_high_school_computer_science.csv",
        "d156d9448a6e899f7f976a0afac148a928bf709a2baa573f0c407854a25bdb11",
        45133,
    ),
    (
        "mmlu/responses/mmlu_high_school_european_history.csv",
        "c64afd6c5e30ef0cd5c10beab961ac05e7ba55d6b48cd93bf6ad0a45f90515bf",
        271527,
    ),
    (
        "mmlu/responses/mmlu_high_school_geography.csv",
        "21b12044be4a6b9813880ad46372006dc0846e7f85fa46883bb73dbd90fba30a",
        43125,
    ),
    (
        "mmlu/responses/mmlu_high_school_government_and_politics.csv",
        "2791689acc61775a5857f4f3a5fd248d30552553c3a96f6ee63dc28285437259",
        67164,
    ),
    (
        "mmlu/responses/mmlu_high_school_macroeconomics.csv",
        "73b931a2a06ba74a5c9f1e005d45a25004e36be5d075d98f8ebcf89b3fda367b",
        119896,
    ),
    (
        "mmlu/responses/mmlu_high_school_mathematics.csv",
        "151b2a736981b7b20f3bad99de6a573e4692d68cf87020e943b601b70bb37390",
        56703,
    ),
    (
        "mmlu/responses/mmlu_high_school_microeconomics.csv",
        "f7ea151efb4c9d96374db3358ac7e97e4d8349e26715f61dac98bc9d854ca046",
        77019,
    ),
    (
        "mmlu/responses/mmlu_high_school_physics.csv",
        "1e2103fc8f7f1cfac7c00952b26db2418acab092486af78a9c51c551ae2ff9be",
        60489,
    ),
    (
        "mmlu/responses/mmlu_high_school_psychology.csv",
        "d11604f2c7a2425258d5b9a285ef71737c011cc3a91456890f088a0ee4c55212",
        162370,
    ),
    (
        "mmlu/responses/mmlu_high_school_statistics.csv",
        "de6642bcd93d7a80e7bbd73d987a44d67b6e537b47749ddc518122fd582703bb",
        112040,
    ),
    (
        "mmlu/responses/mmlu_high_school_us_history.csv",
        "a71186d143363e203b2f216d78c9d21f10cca51de455ef176c9c01b77f546592",
        298464,
    ),
    (
        "mmlu/responses/mmlu_high_school_world_history.csv",
        "e9c52305977dc37b3e48eee727ad933b2d24d96ca3a06aec865a8900b1e87d2c",
        380424,
    ),
    (
        "mmlu/responses/mmlu_human_aging.csv",
        "0d6c4109b4f61f138781ce50bbc60ff2e90dd451694d3926a088be5a5bd88aa8",
        47361,
    ),
    (
        "mmlu/responses/mmlu_human_sexuality.csv",
        "20916037e3012731883f926738daf47ed994f74ba25518fdb7f0df72a81143fd",
        32866,
    ),
    (
        "mmlu/responses/mmlu_international_law.csv",
        "e389b886e3e1570bfdf798f6f56dc3c675350200c5baf0f41a0766294ff312eb",
        54224,
    ),
    (
        "mmlu/responses/mmlu_jurisprudence.csv",
        "7e94c3849231be7b2654db11e44ee51531f8474e300fe83b1e05438df3038f0b",
        34614,
    ),
    (
        "mmlu/responses/mmlu_logical_fallacies.csv",
        "fa2d94cd2e901621aaebd0a7e64560b5dbbe4249086795398533eed2561c0c1e",
        51102,
    ),
    (
        "mmlu/responses/mmlu_machine_learning.csv",
        "9301e928481be6e20b3541e1ac112b25a4a71338b21592978c0d219cb6240020",
        34575,
    ),
    (
        "mmlu/responses/mmlu_management.csv",
        "a00b12ab0265918f9335a85ce02303ddaea0491a7b099f88a05986eeac4aa4fb",
        20594,
    ),
    (
        "mmlu/responses/mmlu_marketing.csv",
        "3ee0b6560ebe0eb4f14ce63227d6f6ec8cb8b6e57e345eae9460be742672f36c",
        64281,
    ),
    (
        "mmlu/responses/mmlu_medical_genetics.csv",
        "7c830f87dcbc0029137b3400cf361931831cb57dda55717a64e72ad74663d5df",
        21444,
    ),
    (
        "mmlu/responses/mmlu_miscellaneous.csv",
        "c2e1a5b0394a8429f55b6340e1865166ac17ec6b3571523005e413b3b2843b9f",
        151860,
    ),
    (
        "mmlu/responses/mmlu_moral_disputes.csv",
        "8b2b973b1987b724f39fd10970604d7f1150747a0db9ce766c193bd978c9d0c4",
        109870,
    ),
    (
        "mmlu/responses/mmlu_moral_scenarios.csv",
        "78ded6fdca1cd0d5c4ed16a5ed4aebf2e98401b9c00b20e565e6cce5bf1153c7",
        379235,
    ),
    (
        "mmlu/responses/mmlu_nutrition.csv",
        "ba197fbf4b6c5034414d66ea7747211056cf5f709f83d919d2d856245720cc51",
        94113,
    ),
    (
        "mmlu/responses/mmlu_philosophy.csv",
        "2f30ad01ab529ddea00dff4ff87e950fef838a78754c94f6884120628a7d0591",
        81836,
    ),
    (
        "mmlu/responses/mmlu_prehistory.csv",
        "afc816d4b78814627bae9b8c3730a9bb72bd958ff6259fd36c981777cfe83753",
        91362,
    ),
    (
        "mmlu/responses/mmlu_professional_accounting.csv",
        "fe5ee976a625832ecf624086103619523d063a3a728c60681b6a53c55b638a37",
        126233,
    ),
    (
        "mmlu/responses/mmlu_professional_law.csv",
        "60a4308df4f481ff8840590b29061835207b50a9f06a9fc68baf12b114f7e2e0",
        1902501,
    ),
    (
        "mmlu/responses/mmlu_professional_medicine.csv",
        "6fda30b523e4e2ce8b1f18e871a0722190a4ac81ec377a75fbba4a63e0b510f7",
        219104,
    ),
    (
        "mmlu/responses/mmlu_professional_psychology.csv",
        "bfb3a7fb653e2b195d3fa258894af64d3f1c3dbd4059c1e0feb728131d20f9b3",
        229411,
    ),
    (
        "mmlu/responses/mmlu_public_relations.csv",
        "2196279ea2535fbda62509c3156209b764459a3d515a9ba84b69cf16bb4c27d0",
        29421,
    ),
    (
        "mmlu/responses/mmlu_security_studies.csv",
        "1354bb17649f95b7dd8ef3179e22329abe6bef84e639d63370ae9e80b2509905",
        206239,
    ),
    (
        "mmlu/responses/mmlu_sociology.csv",
        "903ba6259b13f2877607abef22b7b19cb575104268d4ced615e3129d3caafb47",
        67343,
    ),
    (
        "mmlu/responses/mmlu_us_foreign_policy.csv",
        "f1c1d266753a3f161e2018c16c6948fb78c7f5e506a10b4fc0441049962a6c69",
        29024,
    ),
    (
        "mmlu/responses/mmlu_virology.csv",
        "d525f1ba88982befd42140e73822fe940e73db82bbdcdd569d95f26c3dd41e68",
        39794,
    ),
    (
        "mmlu/responses/mmlu_world_religions.csv",
        "49dc00d44e069ecaac6a7f7e2188f4a8bce5df56ee91bb15f55519d07f64af8e",
        26268,
    ),
    (
        "mt_bench/contaminated_prompts.jsonl",
        "a77356ecd7cab6ba9bfb6d7b91c512f83aee4f82309934387a6cdfb915882109",
        2694,
    ),
    (
        "mt_bench/judgements.jsonl",
        "ffd1d44e7af835c810d35ebd420b88a47acd8aac850f46b149b9889964ae4478",
        1417551,
    ),
    (
        "mt_bench/question.jsonl",
        "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7",
        48929,
    ),
    # the full 1,319-row file; the reference folder only holds its first 25 rows
    ("gsm8k/gsm8k_responses.csv", None, None),
)

# tatsu-lab/alpaca_eval @ cd543a1 (Apache-2.0)
_ALPACA_ROWS: tuple[tuple[str, str | None, int | None], ...] = (
    (
        "results/claude-2/alpaca_eval_gpt4/annotations.json",
        "6f48c1acd3be70d698bf4f0fd9275cda7c44ae5a632dddfb9cd296ddc300f732",
        1639422,
    ),
    (
        "results/claude-2/weighted_alpaca_eval_gpt4_turbo/annotations.json",
        "cb4ef83e4f77bc2106c53ec0645a47e0b704b6ff7d013936ef9e70f330ca264b",
        4148620,
    ),
    (
        "results/gpt-3.5-turbo-0301/alpaca_eval_gpt4/annotations.json",
        "4c5de0db5c74653f49c50becf008491e7da39ac83ec4893780ebbe7110d1b040",
        1470759,
    ),
    (
        "results/gpt-3.5-turbo-1106/alpaca_eval_gpt4/annotations.json",
        "04a14b936e6edf3fdb3d5528cc8f5252c12207985293291bcb7f22d348236a60",
        1504131,
    ),
    (
        "results/gpt-3.5-turbo-1106/weighted_alpaca_eval_gpt4_turbo/annotations.json",
        "4558bed562144780dfcdd5ff55cafc17d76eea62eca143cfcc7ac5f3c154de10",
        3925941,
    ),
    (
        "results/gpt4/alpaca_eval_gpt4/annotations.json",
        "822d7ce0fc777c526bd063e5b44d3c179884654f63fe43fe359c5dec524727ff",
        1876119,
    ),
    (
        "results/gpt4_1106_preview/alpaca_eval_gpt4/annotations.json",
        "384930aa5e497028df2d23ea7b57db6ffdc2635c7af1a8dbd1ea8305e910773e",
        2447630,
    ),
    (
        "results/llama-2-70b-chat-hf/alpaca_eval_gpt4/annotations.json",
        "4172d1eb6d785301a243073690d16facf3b0c12fb8af8e52c55d154a09ebab7f",
        2233376,
    ),
    (
        "results/llama-2-7b-chat-hf/alpaca_eval_gpt4/annotations.json",
        "a003092552c9d97793e6e08e82e2c73b96a1031e882e78ef65dfb972a9d74630",
        1975437,
    ),
)

# shuhao02/RouterDC @ 0e63989: RouterBench zero-shot subsets
_ROUTERBENCH_ROWS: tuple[tuple[str, str | None, int | None], ...] = (
    (
        "arc_challenge_train.csv",
        "59e044850520be06f74dd9766b9ab4621d783f7fa5269d7dda118b9abb115d78",
        2579191,
    ),
    (
        "mbpp_train.csv",
        "2a985adc3a3016b5ae4d62229722cdff9ece58aa1338206a6b12e4957304452b",
        3128944,
    ),
    (
        "winograde_train.csv",
        "f6d54caab59bebb9facf3407c515a07a20faf4e75c639b7e91988ceaf312906a",
        1623934,
    ),
)

# shuhao02/RouterDC @ 0e63989: 7-model golden labels
_ROUTERDC_ROWS: tuple[tuple[str, str | None, int | None], ...] = (
    (
        "MATH_prealgebra.json",
        "3cb750eaa93bd9989babca64b22e92ad51b0b5c30f6ee11dc539fb949c9cf5be",
        441513,
    ),
    (
        "arc_challenge_test.json",
        "7588fd22f8d7e9adb9ec6ff435a0d3612a56b3192dc3f9ace358c2468a10b1f3",
        180874,
    ),
    (
        "arc_challenge_train.json",
        "5ec50e9cd61caf0e3f116b48d00996a3d88ee52b3a0f04797cdfde8e21f8b610",
        439134,
    ),
    (
        "arc_easy_test.json",
        "f8ba3041a394d865aeca8a5554c63f302649563f9cac9bbee8512b2d686269c7",
        380217,
    ),
    (
        "arc_easy_train.json",
        "25bc2be5a33afbdf950466ad34f388b6ede63e59d7139a916c0dd7be649ccfae",
        888903,
    ),
    (
        "ceval.json",
        "b2f8105774193d869fa78c53894aa4118391eaed6bb0810f03f5fec76fd82323",
        1181875,
    ),
    (
        "cmmlu_test.json",
        "10f175ac68f5163a9572d1d0e203415846264dceb9f56b444a654fff79e19843",
        2764779,
    ),
    (
        "cmmlu_train.json",
        "6cc4cdba7f5bf9ca6cbb303bac87efded70d3807c17ecbe54424a74d9410b11e",
        1611405,
    ),
    (
        "gsm8k-train.json",
        "63528cfd7b1860f03bae35e16d4964fe61d4abd3133386c92b22f433a4d4cd75",
        557478,
    ),
    (
        "humaneval_test.json",
        "3744fba4a7953206858f601e61b05c1551ca2fbcfac6b14b46fd19e8735f5f68",
        42909,
    ),
    (
        "humaneval_train.json",
        "c98f4160c135bfb2e6ee21bed16e23a8e5700148c3ea6f49092ce64c5a8d8de0",
        87643,
    ),
    (
        "javascript.json",
        "bfaad2257e7b0de6d4bd6c204e05e791998f8875bb157dde1aea39817c60376b",
        124626,
    ),
    (
        "mbpp.json",
        "17f2c23297234421e3e683ed5fc18d696cacb80a2d1e7a931ca12fcf52a2f9e7",
        242373,
    ),
)

# --- new label sources: EloBench GPT-4-judged battles, gemini-benchmark and ZeroEval
# CRUXEval golden labels (kept as one block: their rows, sources and derived files) ---

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
_LABEL_DERIVED_SHA256: dict[str, str] = {
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
                    _GH + "v-xchen-v/EloBench/" + rel, "elobench/raw/" + rel, sha, size
                )
            )
    return tuple(out)


_LABEL_SOURCES: tuple[Source, ...] = (
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
        files=_files(
            _GH + "neulab/gemini-benchmark/45d7e65/", "gemini-benchmark", _GEMINI_ROWS
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
            *_files(
                _GH + "WildEval/ZeroEval/8c1485e/result_dirs/",
                "zeroeval-crux/raw",
                _CRUX_ROWS,
            ),
            RemoteFile(
                _GH + "WildEval/ZeroEval/8c1485e/LICENSE",
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
# --- end of the new label sources ---

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            name="routellm-evals",
            description=(
                "RouteLLM's evaluation sets with both models' results: MMLU (57 "
                "subjects), MT Bench (questions + GPT-4 judgements), GSM8K"
            ),
            license="Apache-2.0",
            homepage="https://github.com/lm-sys/RouteLLM",
            files=_files(
                _GH + "lm-sys/RouteLLM/0b64fda/routellm/evals/",
                "routellm-evals",
                _ROUTELLM_ROWS,
            ),
        ),
        Source(
            name="alpaca-eval",
            description=(
                "AlpacaEval LLM-judge pairwise preferences (annotations.json per "
                "model and judge), used as training battles"
            ),
            license="Apache-2.0",
            homepage="https://github.com/tatsu-lab/alpaca_eval",
            files=_files(
                _GH + "tatsu-lab/alpaca_eval/cd543a1/", "alpaca-eval", _ALPACA_ROWS
            ),
            note=(
                "the reference folder also holds a compact re-packing of all 135 "
                "annotation files (preferences_compact_all_present.jsonl + "
                "instructions_805.json); without it the loader reads the "
                "annotations.json files"
            ),
        ),
        Source(
            name="routerbench",
            description=(
                "RouterBench zero-shot ARC-challenge / MBPP / Winogrande: 0/1 "
                "correctness and USD cost per query for 11 models"
            ),
            license="see RouterBench (withmartian) before redistributing",
            homepage="https://github.com/shuhao02/RouterDC",
            files=_files(
                _GH + "shuhao02/RouterDC/0e63989/datasets/routerbench_zs/",
                "routerbench",
                _ROUTERBENCH_ROWS,
            ),
        ),
        Source(
            name="routerdc",
            description="RouterDC golden labels for 7 open 7-8B models",
            license="see upstream",
            homepage="https://github.com/shuhao02/RouterDC",
            files=_files(
                _GH + "shuhao02/RouterDC/0e63989/datasets/split2_model7/",
                "routerdc-7model",
                [r for r in _ROUTERDC_ROWS if r[0] != "cmmlu_train.json"],
            )
            + _files(
                _GH + "shuhao02/RouterDC/0e63989/datasets/split2_model7_cluster/",
                "routerdc-7model",
                [r for r in _ROUTERDC_ROWS if r[0] == "cmmlu_train.json"],
            ),
        ),
        Source(
            name="llmrouter",
            description=(
                "ulab LLMRouter golden labels (9 open models, 14 tasks) and query "
                "metadata"
            ),
            license="MIT (prompts under their benchmarks' licences)",
            homepage="https://github.com/ulab-uiuc/LLMRouter",
            files=(
                RemoteFile(
                    _GH + "ulab-uiuc/LLMRouter/4e7a796/data/dcrouter_preprocessed/"
                    "train.json",
                    "ulab-llmrouter/dcrouter_preprocessed/train.json",
                ),
                RemoteFile(
                    _GH + "ulab-uiuc/LLMRouter/4e7a796/data/dcrouter_preprocessed/"
                    "test.json",
                    "ulab-llmrouter/dcrouter_preprocessed/test.json",
                ),
                RemoteFile(
                    _GH + "ulab-uiuc/LLMRouter/4e7a796/llmrouter/data/example_data/"
                    "defaul_query_data/default_query_train.jsonl",
                    "ulab-llmrouter/query_data/default_query_train.jsonl",
                ),
                RemoteFile(
                    _GH + "ulab-uiuc/LLMRouter/4e7a796/llmrouter/data/example_data/"
                    "defaul_query_data/default_query_test.jsonl",
                    "ulab-llmrouter/query_data/default_query_test.jsonl",
                ),
                RemoteFile(
                    _GH + "ulab-uiuc/LLMRouter/4e7a796/llmrouter/data/example_data/"
                    "llm_candidates/default_llm.json",
                    "ulab-llmrouter/default_llm.json",
                    "278f790564efd758ab28a9b6ce141d3fa057219de9bad40b31562c4286549552",
                    6904,
                ),
            ),
            note=(
                "upstream files still contain MMLU-test / GSM8K-test items; drop "
                "them with prefroute.data.benchmarks.load_eval_prompts before "
                "training (the reference copies were filtered, so no checksum)"
            ),
        ),
        Source(
            name="routeprofile",
            description=(
                "ulab RouteProfile routing data: per-model task performance for 8 "
                "models (incl. Mixtral-8x7B) and pairwise training pairs"
            ),
            license="MIT (prompts under their benchmarks' licences)",
            homepage="https://github.com/ulab-uiuc/RouteProfile",
            files=tuple(
                RemoteFile(
                    _GH + f"ulab-uiuc/RouteProfile/96a5b91/route_data/{name}",
                    f"ulab-routeprofile/route_data/{name}",
                )
                for name in (
                    "routing_test_data.json",
                    "pairwise_training_data_standard.json",
                    "pairwise_training_data_newllm.json",
                )
            ),
            note=(
                "upstream files still contain MMLU-test / GSM8K-test items; the "
                "reference copies were filtered, so no checksum"
            ),
        ),
        Source(
            name="gsm8k-train",
            description="GSM8K training questions (no model results)",
            license="MIT",
            homepage="https://github.com/openai/grade-school-math",
            files=(
                RemoteFile(
                    _GH + "openai/grade-school-math/master/grade_school_math/data/"
                    "train.jsonl",
                    "gsm8k-train/train.jsonl",
                    "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
                    4166206,
                ),
            ),
        ),
        *_LABEL_SOURCES,
    )
}

#: Files of the reference data folder that are re-packings, not upstream files
#: (relative path -> sha256); `prefroute data check --sha` verifies them too.
DERIVED_SHA256: dict[str, str] = {
    "alpaca-eval/instructions_805.json": (
        "1ec91de3250c3c2ae1d4bf89c352ae680bb07ff9c3d20b70aae6d70387b27729"
    ),
    "alpaca-eval/preferences_compact_all_present.jsonl": (
        "25803e053adad628ff39f03b73505dcdadd4ad1486f120aea217e98b1b49b945"
    ),
    "routellm-evals/gsm8k/gsm8k_responses_sample.csv": (
        "fb4405e09b3c2a6c912cbdf6416419220ad403af1c092555b740464ac33b71a8"
    ),
    **_LABEL_DERIVED_SHA256,
}
