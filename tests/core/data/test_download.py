"""Downloads against a real HTTP server on 127.0.0.1 serving the real data sets."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from snnapp.cli._common import one_line
from snnapp.core.data import _download as download_module
from snnapp.core.data import download, list_fsdd, load_mnist, status
from snnapp.core.errors import DataError, Hint
from tests.loopback_http import Server, serve, server_url, stop

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(scope="module")
def server(shared_data: Path) -> Iterator[Server]:
    files = {f"/mnist/{n}.gz": (shared_data / "mnist" / f"{n}.gz").read_bytes() for n in MNIST_NAMES}
    labels = bytearray(gzip.decompress(files["/mnist/train-labels-idx1-ubyte.gz"]))
    labels[100] = (labels[100] + 1) % 10  # well-formed, wrong content
    files["/bad-mnist/train-labels-idx1-ubyte.gz"] = gzip.compress(bytes(labels))
    files["/bad-mnist/train-images-idx3-ubyte.gz"] = files["/mnist/train-images-idx3-ubyte.gz"]
    srv = serve(files)
    yield srv
    stop(srv)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith("."))


def test_mnist_download_verifies_and_loads(server: Server, tmp_path: Path) -> None:
    seen: dict[str, tuple[int, int | None]] = {}
    paths = download("mnist", tmp_path, base_urls={"mnist": server_url(server, "/plain/mnist/")},
                     progress=lambda label, done, total: seen.__setitem__(label, (done, total)))
    assert paths == [tmp_path / "mnist" / f"{n}.gz" for n in MNIST_NAMES]
    assert seen["t10k-labels-idx1-ubyte.gz"] == (len(server.files["/mnist/t10k-labels-idx1-ubyte.gz"]),) * 2
    assert _leftovers(tmp_path) == []
    images, labels = load_mnist(tmp_path, "test")
    assert images.shape == (10_000, 28, 28) and labels[:3].tolist() == [7, 2, 1]
    mnist_status = status(tmp_path)[0]
    assert mnist_status.present and mnist_status.verified
    before = len(server.requests)
    download("mnist", tmp_path, base_urls={"mnist": server_url(server, "/plain/mnist/")})
    assert len(server.requests) == before  # verified data is not fetched again


def test_corrupt_download_leaves_no_file(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.*md5") as info:
        download("mnist", tmp_path, base_urls={"mnist": server_url(server, "/plain/bad-mnist/")})
    assert server_url(server, "/plain/bad-mnist/train-labels-idx1-ubyte.gz") in str(info.value)
    folder = tmp_path / "mnist"
    assert not (folder / "train-labels-idx1-ubyte.gz").exists()
    assert (folder / "train-images-idx3-ubyte.gz").exists()  # the good one before it is kept
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(("mode", "reason"), [("short", "closed after"), ("no-length", "damaged|md5")])
def test_truncated_transfer_leaves_no_file(server: Server, tmp_path: Path, mode: str, reason: str) -> None:
    with pytest.raises(DataError, match=rf"train-images-idx3-ubyte.*({reason})"):
        download("mnist", tmp_path, base_urls={"mnist": server_url(server, f"/{mode}/mnist/")})
    assert list((tmp_path / "mnist").iterdir()) == []


def test_redirect_to_plain_http_elsewhere_is_refused(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"refused.*http://example.invalid/mnist/train-images"):
        download("mnist", tmp_path, base_urls={"mnist": server_url(server, "/redirect-external/mnist/")})
    assert list((tmp_path / "mnist").iterdir()) == []


def test_redirect_within_loopback_is_followed(server: Server, tmp_path: Path) -> None:
    download("mnist", tmp_path, base_urls={"mnist": server_url(server, "/redirect-local/plain/mnist/")})
    assert status(tmp_path)[0].verified


@pytest.mark.parametrize("url", ["http://example.invalid/mnist/", "file:///etc/", "ftp://example.invalid/"])
def test_non_https_sources_are_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(DataError, match="refused non-HTTPS"):
        download("mnist", tmp_path, base_urls={"mnist": url})


def test_offline_error_says_what_and_how(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        download("mnist", tmp_path, base_urls={"mnist": "http://127.0.0.1:1/mnist/"}, timeout=5)
    message = str(info.value)
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in message
    assert "http://127.0.0.1:1/mnist/train-images-idx3-ubyte.gz" in message
    assert "to supply a local copy" in message and "--" not in message
    assert info.value.hints[-1] == Hint("data_dir", "a folder that has mnist/ and fsdd/recordings/")
    assert one_line(info.value).endswith("or set --data-dir (or SNNAPP_DATA_DIR) to a folder that has mnist/ "
                                         "and fsdd/recordings/")


def test_falls_back_to_second_mirror(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download_module, "MNIST_MIRRORS", (server_url(server, "/plain/nowhere/"), server_url(server, "/plain/mnist/")))
    download("mnist", tmp_path)
    assert status(tmp_path)[0].verified


def test_damaged_local_copy_is_replaced(server: Server, shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    raw = bytearray(gzip.decompress((shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[50] ^= 1
    (folder / "t10k-labels-idx1-ubyte").write_bytes(raw)
    first = status(tmp_path)[0]
    assert not first.present and not first.verified
    download("mnist", tmp_path, base_urls={"mnist": server_url(server, "/plain/mnist/")})
    assert not (folder / "t10k-labels-idx1-ubyte").exists()
    assert status(tmp_path)[0].verified


def test_status_of_damaged_mnist(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in MNIST_NAMES:
        (folder / f"{name}.gz").symlink_to(shared_data / "mnist" / f"{name}.gz")
    assert status(tmp_path)[0].verified
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    mnist = status(tmp_path)[0]
    assert mnist.present and not mnist.verified and "t10k-labels-idx1-ubyte.gz" in mnist.detail


# --- FSDD -------------------------------------------------------------------------------------

def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def fsdd_members(shared_data: Path) -> dict[str, bytes]:
    top = "free-spoken-digit-dataset-1.0.10"
    members = {f"{top}/README.md": b"readme", f"{top}/utils/spectogramer.py": b"print()\n"}
    for wav in sorted((shared_data / "fsdd" / "recordings").glob("*.wav")):
        members[f"{top}/recordings/{wav.name}"] = wav.read_bytes()
    return members


def test_fsdd_download_extracts_and_verifies(server: Server, fsdd_members: dict[str, bytes], tmp_path: Path) -> None:
    server.files["/fsdd.zip"] = _zip(fsdd_members)
    stale = tmp_path / "fsdd" / "recordings"
    stale.mkdir(parents=True)
    (stale / "0_george_0.wav").write_bytes(b"not the real one")
    assert status(tmp_path)[1].present and not status(tmp_path)[1].verified
    assert download("fsdd", tmp_path, base_urls={"fsdd": server_url(server, "/plain/fsdd.zip")}) == [stale]
    assert len(list(stale.iterdir())) == 3000
    assert not (stale / "README.md").exists()
    assert status(tmp_path)[1].verified
    assert len(list_fsdd(tmp_path, "test")) == 300
    assert sorted(p.name for p in (tmp_path / "fsdd").iterdir()) == ["recordings"]  # no zip, no staging


def test_fsdd_with_changed_recording_is_rejected(server: Server, fsdd_members: dict[str, bytes], tmp_path: Path) -> None:
    members = dict(fsdd_members)
    name = "free-spoken-digit-dataset-1.0.10/recordings/5_theo_17.wav"
    members[name] = members[name][:-1] + bytes([members[name][-1] ^ 1])
    server.files["/fsdd-bad.zip"] = _zip(members)
    with pytest.raises(DataError, match="manifest differs"):
        download("fsdd", tmp_path, base_urls={"fsdd": server_url(server, "/plain/fsdd-bad.zip")})
    assert list((tmp_path / "fsdd").iterdir()) == []


@pytest.mark.parametrize("evil", ["top/recordings/../../../evil.wav", "/tmp/evil.wav", "top/../evil.wav"])
def test_zip_member_escaping_target_is_rejected(server: Server, tmp_path: Path, evil: str) -> None:
    server.files["/evil.zip"] = _zip({"top/recordings/0_george_0.wav": b"RIFF", evil: b"RIFF"})
    with pytest.raises(DataError, match="outside the target folder"):
        download("fsdd", tmp_path / "data", base_urls={"fsdd": server_url(server, "/plain/evil.zip")})
    assert [p.name for p in tmp_path.rglob("*")] == ["data", "fsdd"]


def test_fsdd_download_that_is_not_a_zip(server: Server, tmp_path: Path) -> None:
    server.files["/junk.zip"] = b"<html>rate limited</html>"
    with pytest.raises(DataError, match="damaged"):
        download("fsdd", tmp_path, base_urls={"fsdd": server_url(server, "/plain/junk.zip")})
    assert list((tmp_path / "fsdd").iterdir()) == []


def test_fsdd_http_error_names_target_and_remedy(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"HTTP 404.*fsdd/recordings") as info:
        download("fsdd", tmp_path, base_urls={"fsdd": server_url(server, "/plain/missing.zip")})
    assert [h.kind for h in info.value.hints] == ["say", "data_dir"]
    assert "SNNAPP_DATA_DIR" in one_line(info.value) and "--" not in str(info.value)


def test_status_of_empty_dir(tmp_path: Path) -> None:
    mnist, fsdd = status(tmp_path)
    assert (mnist.name, mnist.present, mnist.verified) == ("mnist", False, False)
    assert (fsdd.name, fsdd.present, fsdd.verified) == ("fsdd", False, False)
    assert "train-images-idx3-ubyte" in mnist.detail


def test_unknown_dataset_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown data set"):
        download("cifar", tmp_path)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
