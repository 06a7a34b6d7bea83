"""The gateway imports no front-end and no HTTP framework (imports flow one way)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import prefroute.gateway

GATEWAY = Path(prefroute.gateway.__file__).parent
FORBIDDEN = ("prefroute.serve", "prefroute.client", "prefroute.cli", "fastapi")
FORBIDDEN += ("starlette", "uvicorn")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_gateway_module_imports_a_front_end_or_http_framework() -> None:
    offending = {
        f"{path.name}: {name}"
        for path in sorted(GATEWAY.rglob("*.py"))
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    }
    assert offending == set()


def test_routing_a_request_loads_no_http_framework() -> None:
    code = (
        "import sys; from prefroute.gateway.core import RoutingCore; "
        "from prefroute.gateway.config import RoutingConfig; "
        "core = RoutingCore(RoutingConfig(strong={'model': 's'}, weak={'model': 'w'},"
        " routers=['random'])); "
        "d = core.decide('router-random-0', [{'role': 'user', 'content': 'hi'}]); "
        "print(d.model, sorted({'fastapi', 'starlette', 'uvicorn'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "s []"
