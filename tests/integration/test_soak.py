"""The chaos soak (benchmarks/soak.py), 30 seconds: faulty upstreams, an upstream
killed and restarted, bad and slow clients, 8x overload, SIGTERM under load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_thirty_second_soak_meets_the_targets(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "soak.py"),
            *("--duration", "30", "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    totals = report["totals"]
    assert totals["requests"] > 1000
    assert totals["lost"] == 0, report["phases"]
    assert totals["invalid"] == 0, report["phases"]
    assert totals["bad_5xx"] == 0, report["phases"]
    assert totals["duplicate_generations"] == 0, report["upstream"]
    load = report["phases"]["load"]["outcomes"]
    assert load["ok"] > 500
    assert load.get("upstream_failed", 0) < 0.05 * sum(load.values())
    assert report["server_memory"]["rss_growth_after_faults_pct"] < 5.0
    assert report["overload"]["shed_share"] > 0
    assert report["phases"]["drain"]["outcomes"].get("stream_error", 0) > 0
    shutdown = report["shutdown"]
    assert shutdown["returncode"] is not None
    assert shutdown["exit_after_s"] < shutdown["timeout_s"] + 3
