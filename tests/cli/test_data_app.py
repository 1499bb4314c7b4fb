from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from snnapp.cli._data import data_app
from snnapp.core.data import _download as download_module

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason=f"real data sets not found at {SHARED}")


@needs_data
def test_status_of_shared_data_via_env() -> None:
    result = CliRunner().invoke(data_app, ["status"], env={"SNNAPP_DATA_DIR": str(SHARED)})
    assert result.exit_code == 0, result.output
    assert "md5 verified" in result.stdout and "manifest verified" in result.stdout
    assert "no" not in result.stdout.split()


def test_status_of_empty_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(data_app, ["status", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert result.stdout.count("no") >= 4 and "missing" in result.stdout


@needs_data
def test_download_of_present_data_fetches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download_module, "MNIST_MIRRORS", ("http://127.0.0.1:1/",))
    result = CliRunner().invoke(data_app, ["download", "mnist", "--data-dir", str(SHARED)])
    assert result.exit_code == 0, result.output
    assert "t10k-labels-idx1-ubyte.gz" in result.stdout


def test_download_failure_is_one_red_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download_module, "MNIST_MIRRORS", ("http://127.0.0.1:1/",))
    result = CliRunner().invoke(data_app, ["download", "mnist", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: could not download MNIST file")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_unknown_dataset_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(data_app, ["download", "cifar", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
