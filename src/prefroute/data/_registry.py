"""The registry of public data sources: what `prefroute data download` fetches.

Files copied unchanged into the reference data folder have a known sha256 (computed
from those copies) and are verified; files whose upstream version differs from the
reference copy have no checksum. `prefroute.data.download` fetches them.
"""

from __future__ import annotations

from prefroute.data._registry_files import (
    GITHUB_RAW,
    RemoteFile,
    Source,
    files_from_rows,
)
from prefroute.data._registry_labels import LABEL_DERIVED_SHA256, LABEL_SOURCES

__all__ = ["DERIVED_SHA256", "SOURCES", "RemoteFile", "Source"]


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
            files=files_from_rows(
                GITHUB_RAW + "lm-sys/RouteLLM/0b64fda/routellm/evals/",
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
            files=files_from_rows(
                GITHUB_RAW + "tatsu-lab/alpaca_eval/cd543a1/",
                "alpaca-eval",
                _ALPACA_ROWS,
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
            files=files_from_rows(
                GITHUB_RAW + "shuhao02/RouterDC/0e63989/datasets/routerbench_zs/",
                "routerbench",
                _ROUTERBENCH_ROWS,
            ),
        ),
        Source(
            name="routerdc",
            description="RouterDC golden labels for 7 open 7-8B models",
            license="see upstream",
            homepage="https://github.com/shuhao02/RouterDC",
            files=files_from_rows(
                GITHUB_RAW + "shuhao02/RouterDC/0e63989/datasets/split2_model7/",
                "routerdc-7model",
                [r for r in _ROUTERDC_ROWS if r[0] != "cmmlu_train.json"],
            )
            + files_from_rows(
                GITHUB_RAW
                + "shuhao02/RouterDC/0e63989/datasets/split2_model7_cluster/",
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
                    GITHUB_RAW
                    + "ulab-uiuc/LLMRouter/4e7a796/data/dcrouter_preprocessed/"
                    "train.json",
                    "ulab-llmrouter/dcrouter_preprocessed/train.json",
                ),
                RemoteFile(
                    GITHUB_RAW
                    + "ulab-uiuc/LLMRouter/4e7a796/data/dcrouter_preprocessed/"
                    "test.json",
                    "ulab-llmrouter/dcrouter_preprocessed/test.json",
                ),
                RemoteFile(
                    GITHUB_RAW
                    + "ulab-uiuc/LLMRouter/4e7a796/llmrouter/data/example_data/"
                    "defaul_query_data/default_query_train.jsonl",
                    "ulab-llmrouter/query_data/default_query_train.jsonl",
                ),
                RemoteFile(
                    GITHUB_RAW
                    + "ulab-uiuc/LLMRouter/4e7a796/llmrouter/data/example_data/"
                    "defaul_query_data/default_query_test.jsonl",
                    "ulab-llmrouter/query_data/default_query_test.jsonl",
                ),
                RemoteFile(
                    GITHUB_RAW
                    + "ulab-uiuc/LLMRouter/4e7a796/llmrouter/data/example_data/"
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
                    GITHUB_RAW + f"ulab-uiuc/RouteProfile/96a5b91/route_data/{name}",
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
                    GITHUB_RAW
                    + "openai/grade-school-math/master/grade_school_math/data/"
                    "train.jsonl",
                    "gsm8k-train/train.jsonl",
                    "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
                    4166206,
                ),
            ),
        ),
        *LABEL_SOURCES,
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
    **LABEL_DERIVED_SHA256,
}
