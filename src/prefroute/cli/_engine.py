"""The ``--engine`` options that batch commands share (score, eval, train, adapt)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["EngineOpt", "RayActorsOpt", "RayAddressOpt"]

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        metavar="NAME",
        help="Where batches run: 'local' (this process) or 'ray' (a Ray cluster "
        "through Ray Data; pip install 'prefroute[ray]'). Same results.",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="ADDRESS",
        help="Ray cluster to join (ray://HEAD:10001 or 'auto'; default: a private "
        "local cluster on 127.0.0.1).",
    ),
]
RayActorsOpt = Annotated[
    int | None,
    typer.Option(
        "--ray-actors",
        metavar="N",
        help="Ray actors in the pool, each loading the router once (default: "
        "the cluster's CPUs minus one).",
    ),
]
