"""The deployment examples (deploy/) agree with the server they deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from prefroute.serve.config import load_serve_config

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "deploy" / "kubernetes" / "prefroute.yaml"


def documents() -> dict[str, dict[str, Any]]:
    docs = list(yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")))
    return {doc["kind"]: doc for doc in docs if doc}


def container() -> dict[str, Any]:
    spec = documents()["Deployment"]["spec"]["template"]["spec"]
    (only,) = spec["containers"]
    return only  # type: ignore[no-any-return]


def test_configmap_holds_a_valid_serve_config_for_a_pod(tmp_path: Path) -> None:
    text = documents()["ConfigMap"]["data"]["serve.yaml"]
    path = tmp_path / "serve.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_serve_config(path)
    assert config.host == "0.0.0.0"  # reachable from the Service
    assert config.workers >= 2
    (port,) = container()["ports"]
    assert port["containerPort"] == config.port


def test_probes_hit_health_and_prometheus_scrapes_metrics() -> None:
    c = container()
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/health"
    annotations = documents()["Deployment"]["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"


def test_database_url_comes_from_a_secret_into_the_log_flag() -> None:
    c = container()
    env = {e["name"]: e for e in c["env"]}
    assert "secretKeyRef" in env["PREFROUTE_LOG_URL"]["valueFrom"]
    args = c["args"]
    assert args[args.index("--log") + 1] == "$(PREFROUTE_LOG_URL)"
    assert all("secretKeyRef" in e["valueFrom"] for e in env.values())


def test_dockerfile_serves_the_config_the_manifest_mounts() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    (mount,) = container()["volumeMounts"]
    assert f"{mount['mountPath']}/serve.yaml" in dockerfile
    assert "postgres" in dockerfile  # the driver of the shared request log
