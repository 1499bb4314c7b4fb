"""Smoke test of ``benchmarks/bench_vad.py`` on a few recordings: it runs and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_vad.py"


def test_bench_vad_prints_its_table(data_dir: Path) -> None:
    res = subprocess.run([sys.executable, str(SCRIPT), "--data-dir", str(data_dir), "--limit", "5"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [line for line in res.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 4 and "find_word" in rows[2] and "Segmenter" in rows[3]
    assert all(float(r.split("|")[2]) > 0 for r in rows[1:])
