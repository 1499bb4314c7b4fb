#!/usr/bin/env python3
"""Build an offline install bundle of snnapp's edge runtime (onnxruntime, no torch) for a target platform.

The bundle is a ``.tar.gz`` holding the project wheel and a wheelhouse of every ``snnapp[edge]`` dependency
for the target's CPU and Python versions, an ``install.sh`` that needs no network, a systemd unit that runs
``snnapp listen`` as a service, and a README. Examples::

    python packaging/build_edge_bundle.py --arch aarch64 --python 3.11 --python 3.12 --python 3.13
    python packaging/build_edge_bundle.py --arch x86_64 --python 3.12 --model runs/audio
    python packaging/build_edge_bundle.py --native          # this machine's platform and Python

Only building needs the network (PyPI, or whatever index pip is configured with); the target needs none.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHES = ("x86_64", "aarch64")
PYTHONS = ("3.11", "3.12", "3.13")
SERVICE = "snnapp-listen.service"
FORBIDDEN = ("torch", "snntorch", "optuna")  # the edge install must not contain these

TEMPLATES = Path(__file__).resolve().parent / "templates"
INSTALL_SH = (TEMPLATES / "install.sh.in").read_text()
UNIT = (TEMPLATES / "snnapp-listen.service.in").read_text()  # @PREFIX@ is filled in by install.sh
README = (TEMPLATES / "README.md.in").read_text()


def log(msg: str) -> None:
    print(f"build_edge_bundle: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> None:
    log("$ " + " ".join(cmd))
    if subprocess.run(cmd, **kw).returncode:
        raise SystemExit(f"build_edge_bundle: failed: {' '.join(cmd)}")


def project_version(root: Path) -> str:
    import tomllib

    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def build_wheel(root: Path, out: Path) -> Path:
    """The project wheel, built from a clean copy of the sources (no stale ``build/`` or egg-info)."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="snnapp-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE", "LICENSE.md", "MANIFEST.in", "setup.py", "setup.cfg"):
            if (root / name).is_file():
                shutil.copy2(root / name, src / name)
        shutil.copytree(root / "snnapp", src / "snnapp",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*"))
        try:
            import setuptools  # noqa: F401  (build here, offline, when the building Python has it)
            isolation = ["--no-build-isolation"]
        except ImportError:
            isolation = []
        before = set(out.glob("snnapp-*.whl"))
        for old in before:
            old.unlink()
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--quiet", "-w", str(out), str(src)])
    wheels = sorted(out.glob("snnapp-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one snnapp wheel in {out}, found {wheels}")
    return wheels[0]


def manylinux_tags(arch: str, glibc: str) -> list[str]:
    """Every manylinux tag a machine with this glibc runs, newest first: pip takes ``--platform`` tags literally
    (``manylinux_2_28`` alone would miss a ``manylinux_2_17`` wheel)."""
    major, minor = (int(x) for x in glibc.split("."))
    if major != 2 or minor < 17:
        raise SystemExit(f"--glibc {glibc}: give 2.17 or newer")
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags = []
    for m in range(minor, 4, -1):
        if arch != "x86_64" and m < 17:
            break  # no manylinux before 2.17 for other CPUs
        tags.append(f"manylinux_2_{m}_{arch}")
        if m in legacy:
            tags.append(f"{legacy[m]}_{arch}")
    return tags


def download_wheelhouse(wheel: Path, house: Path, arch: str | None, pythons: list[str], glibc: str,
                        extras: str) -> None:
    """Every dependency of ``wheel[extras]`` as binary wheels, for each Python (``arch=None``: this machine)."""
    house.mkdir(parents=True, exist_ok=True)
    for py in pythons:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "-d", str(house)]
        if arch is not None:
            for tag in manylinux_tags(arch, glibc):
                cmd += ["--platform", tag]
            cmd += ["--python-version", py, "--implementation", "cp"]
            for abi in ("cp" + py.replace(".", ""), "abi3", "none"):  # naming one --abi drops the others
                cmd += ["--abi", abi]
        cmd.append(f"{wheel}[{extras}]")
        run(cmd)


def check_wheelhouse(house: Path) -> list[dict]:
    """The wheels with their sha256; refuses a wheelhouse that holds torch, snntorch or optuna."""
    rows = []
    for w in sorted(house.glob("*.whl")):
        dist = re.split(r"-\d", w.name, maxsplit=1)[0].lower().replace("_", "-")
        if dist in FORBIDDEN:
            raise SystemExit(f"{w.name}: {dist} must not be in the edge install (check the edge extra's dependencies)")
        rows.append({"file": w.name, "sha256": hashlib.sha256(w.read_bytes()).hexdigest(), "bytes": w.stat().st_size})
    non_wheels = [p.name for p in house.iterdir() if p.suffix != ".whl"]
    if non_wheels:
        raise SystemExit(f"not wheels (no binary for the target?): {non_wheels}")
    return rows


def add_models(models: list[Path], dest: Path) -> list[str]:
    """Copy model folders into the bundle; each needs ``model.onnx`` (the edge runs onnxruntime only)."""
    names = []
    for m in models:
        if not (m / "model.onnx").is_file():
            raise SystemExit(f"{m}: no model.onnx; run 'snnapp export {m}' first (where torch is installed)")
        if m.name in names:
            raise SystemExit(f"two model folders named {m.name!r}: the bundle keeps each under its folder's name")
        names.append(m.name)
        shutil.copytree(m, dest / m.name, ignore=shutil.ignore_patterns("*.ckpt", "__pycache__"))
    return names


def write_text(path: Path, text: str, executable: bool = False) -> None:
    path.write_text(text)
    mode = 0o755 if executable else 0o644
    os.chmod(path, mode)


def make_tar(folder: Path, out: Path) -> None:
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o755 if info.isdir() or info.mode & stat.S_IXUSR else 0o644
        return info

    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(folder, arcname=folder.name, filter=clean)
    os.replace(tmp, out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Examples:\n" + __doc__.split("Examples::\n")[1].split("\n\n")[0])
    target = p.add_mutually_exclusive_group()
    target.add_argument("--arch", choices=ARCHES, help="target CPU (default: this machine's)")
    target.add_argument("--native", action="store_true",
                        help="wheels for exactly this machine and the Python running this script")
    p.add_argument("--python", action="append", choices=PYTHONS, dest="pythons",
                   help="target Python version; repeat for several (default: this Python's version)")
    p.add_argument("--glibc", default="2.28",
                   help="oldest glibc of the targets, as manylinux_X_Y (default 2.28: Debian 10+, Ubuntu 20.04+, "
                        "Raspberry Pi OS bullseye+, RHEL 8+)")
    p.add_argument("--model", action="append", type=Path, default=[],
                   help="a model folder with model.onnx to ship in the bundle, kept under its folder's name (repeat); "
                        "the service uses models/audio, else the audio model inside the wheel")
    p.add_argument("--extras", default="edge", help="extras of snnapp to install (default: edge)")
    p.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    p.add_argument("--keep", action="store_true", help="keep the unpacked bundle folder beside the .tar.gz")
    args = p.parse_args(argv)
    if not re.fullmatch(r"\d+\.\d+", args.glibc):
        p.error("--glibc takes X.Y, e.g. 2.28")
    if args.native:
        if args.pythons and args.pythons != [f"{sys.version_info[0]}.{sys.version_info[1]}"]:
            p.error("--native builds for the Python running this script; run it with that Python instead")
        args.pythons = None
    return args


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    this_py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    arch = machine if args.native else (args.arch or machine)
    if arch not in ARCHES:
        raise SystemExit(f"unsupported target CPU {arch!r}; give --arch {' or '.join(ARCHES)}")
    pythons = sorted(set(args.pythons or [this_py]))
    version = project_version(ROOT)
    name = f"snnapp-edge-{version}-linux_{arch}-" + "_".join("py" + p.replace(".", "") for p in pythons)
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="snnapp-bundle-") as tmp:
        bundle = Path(tmp) / name
        house = bundle / "wheelhouse"
        wheel = build_wheel(ROOT, house)
        log(f"wheel: {wheel.name} ({wheel.stat().st_size / 1e6:.1f} MB)")
        download_wheelhouse(wheel, house, None if args.native else arch, pythons, args.glibc, args.extras)
        wheels = check_wheelhouse(house)
        models = add_models([m.resolve() for m in args.model], bundle / "models") if args.model else []

        subst = {"@VERSION@": version, "@PYTHONS@": " ".join(pythons), "@ARCH@": arch, "@NAME@": name,
                 "@FORBIDDEN@": " ".join(FORBIDDEN),
                 "@MODELS@": f", `models/` ({', '.join(models)})" if models else ""}

        def fill(text: str) -> str:
            for k, v in subst.items():
                text = text.replace(k, v)
            return text

        write_text(bundle / "install.sh", fill(INSTALL_SH), executable=True)
        write_text(bundle / SERVICE, UNIT)  # @PREFIX@ is filled in by install.sh
        write_text(bundle / "README.md", fill(README))
        (bundle / "BUNDLE.json").write_text(json.dumps({
            "name": name, "version": version, "arch": arch, "pythons": pythons,
            "platform": "native" if args.native else manylinux_tags(arch, args.glibc), "extras": args.extras,
            "models": models, "wheels": wheels}, indent=2) + "\n")

        out = args.out / f"{name}.tar.gz"
        make_tar(bundle, out)
        if args.keep:
            shutil.rmtree(args.out / name, ignore_errors=True)
            shutil.copytree(bundle, args.out / name, symlinks=True)
    size = sum(w["bytes"] for w in wheels)
    log(f"{out} ({out.stat().st_size / 1e6:.1f} MB; {len(wheels)} wheels, {size / 1e6:.1f} MB unpacked)")
    print(out)
    return out


if __name__ == "__main__":
    main()
