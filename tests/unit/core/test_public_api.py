"""Every public module's __all__ names exist, and importing prefroute is cheap."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import prefroute

_SKIP_PREFIXES = ("prefroute.checkpoints",)


def _public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(prefroute.__path__, "prefroute."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or info.name.startswith(_SKIP_PREFIXES):
            continue
        names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _public_modules())
def test_all_names_exist(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        pytest.skip(f"{module_name} has no __all__")
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []


def test_import_prefroute_loads_no_heavy_module() -> None:
    code = (
        "import sys, prefroute; "
        "heavy = {'numpy', 'onnxruntime', 'torch', 'fastapi', 'matplotlib'}; "
        "heavy &= set(sys.modules); "
        "print(','.join(sorted(heavy)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_random_router_route_does_not_import_torch() -> None:
    code = (
        "import sys, prefroute; r = prefroute.load_router('random'); "
        "r.route(['x'], 0.5); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
