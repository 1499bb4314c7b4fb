"""``snnapp export``: a model folder's network as ONNX (one step, and the whole window) or NIR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import fail, user_errors


def export_command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder to export.")],
    format: Annotated[str, typer.Option("--format", help="onnx or nir.")] = "onnx",
    out: Annotated[Optional[Path], typer.Option(help="Write here instead of into the model folder.")] = None,
    window: Annotated[bool, typer.Option(help="ONNX: also export the whole window (all T steps), for batch work.")] = True,
    int8: Annotated[bool, typer.Option(help="ONNX: also write model.int8.onnx (dynamic int8 quantisation).")] = False,
) -> None:
    """Export for onnxruntime (model.onnx, the step graph) or for NIR tool chains (model.nir)."""
    from snnapp.core.modelio import shown

    with user_errors():
        if format == "onnx":
            from snnapp.core.export import export_onnx

            kinds = ["step"] + (["window"] if window and out is None else [])
            for kind in kinds:
                r = export_onnx(model_dir, out=out, kind=kind)
                typer.echo(f"{shown(r.path)}: {kind} graph, {r.nodes} nodes, {r.bytes / 1e6:.2f} MB, {r.seconds:.1f} s")
            if int8:
                if out is not None:
                    fail("--int8 writes into the model folder; leave out --out")
                from snnapp.core.export_quant import quantize

                q = quantize(model_dir)
                typer.echo(f"{shown(q)}: int8 step graph, {q.stat().st_size / 1e6:.2f} MB")
        elif format == "nir":
            from snnapp.core.export_nir import export_nir

            res = export_nir(model_dir, out=out)
            typer.echo(f"{shown(res.path)}: NIR graph, {res.nodes} nodes, {res.edges} edges (read back and checked)")
            for note in res.notes:
                typer.echo(f"  note: {note}")
        else:
            fail(f"unknown format {format!r}; choose onnx or nir")
