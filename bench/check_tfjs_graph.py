"""By-hand reference check: a tfjs graph model in TensorFlow.js (CPU backend) vs `TfjsGraph`.

Installs nothing. The reference needs `node` and a local `@tensorflow/tfjs`, e.g.:

    npm install --prefix /tmp/tfjsref @tensorflow/tfjs
    PYTHONPATH=src python bench/check_tfjs_graph.py /path/to/models/centernet.json \\
        --tfjs /tmp/tfjsref/node_modules

It feeds one seeded input (uniform in --low..--high, default 0..255, NHWC) to both and prints,
for each compared output (the signature outputs plus backbone feature maps), the max abs difference
and that difference relative to the output's max abs value. Without node/tfjs it says so and only
runs the torch side.

`--shapes` instead prints, for the backbone taps, their shapes and the torch CPU time per image at
each `--sizes` input (2 threads by default), so a caller can pick a feature map as an image tower.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from memesearch.models.tfjs_graph import load_tfjs_graph, read_model_json

# Backbone taps of the centernet (MobileNetV3) graph: the maps its detection head reads.
CENTERNET_TAPS = [
    "tower_0/MobilenetV3/expanded_conv_3/expand/Relu",  # stride 4 (c2)
    "tower_0/MobilenetV3/expanded_conv_5/expand/Relu",  # stride 8 (c3)
    "tower_0/MobilenetV3/expanded_conv_11/add",  # stride 16 (c4)
    "tower_0/MobilenetV3/expanded_conv_14/add",  # stride 32, before the extra 1x1
    "tower_0/extern1/hard_swish/mul_1",  # stride 32 (c5), what the head upsamples
]
# Backbone stage outputs of the NanoDet graph (ONNX -> TF, NCHW; a CSP-style LeakyReLU backbone):
# the concatenations that end each stage, before the FPN (its first 1x1 convs read strides 8-32).
NANODET_TAPS = [
    "PartitionedCall/onnx_tf_prefix_Concat_12",  # stride 4, 64 channels
    "PartitionedCall/onnx_tf_prefix_Concat_27",  # stride 8, 128 channels
    "PartitionedCall/onnx_tf_prefix_Concat_42",  # stride 16, 256 channels
    "PartitionedCall/onnx_tf_prefix_Concat_62",  # stride 32, 512 channels
]
TAPS = CENTERNET_TAPS + NANODET_TAPS

NODE_SCRIPT = r"""
const fs = require('fs');
const path = require('path');
const [tfjsDir, modelJson, inputBin, shapeJson, outDir, ...names] = process.argv.slice(2);
const tf = require(path.join(tfjsDir, '@tensorflow/tfjs'));
async function main() {
  await tf.setBackend('cpu');
  const spec = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const specs = [], shards = [];
  for (const group of spec.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) shards.push(fs.readFileSync(path.join(path.dirname(modelJson), p)));
  }
  // Free the input's non-batch dims (tfjs checks the exported shape) so the backbone runs at other
  // sizes, whether the input is NHWC or NCHW.
  for (const n of spec.modelTopology.node) {
    const dims = n.op === 'Placeholder' && n.attr && n.attr.shape && n.attr.shape.shape.dim;
    if (dims && dims.length === 4) { for (const i of [1, 2, 3]) dims[i].size = '-1'; }
  }
  for (const inp of Object.values((spec.signature || {}).inputs || {})) {
    const dims = inp.tensorShape && inp.tensorShape.dim;
    if (dims && dims.length === 4) { for (const i of [1, 2, 3]) dims[i].size = '-1'; }
  }
  const all = Buffer.concat(shards);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const handler = { load: async () => ({ modelTopology: spec.modelTopology, weightSpecs: specs,
    weightData, format: spec.format, signature: spec.signature }) };
  const model = await tf.loadGraphModel(handler);
  const raw = fs.readFileSync(inputBin);
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const x = tf.tensor(data, JSON.parse(fs.readFileSync(shapeJson, 'utf8')), 'float32');
  const t0 = Date.now();
  let outs = await model.executeAsync(x, names);
  if (!Array.isArray(outs)) outs = [outs];
  const ms = Date.now() - t0;
  const shapes = {};
  outs.forEach((t, i) => {
    fs.writeFileSync(path.join(outDir, i + '.bin'), Buffer.from(t.dataSync().buffer));
    shapes[names[i]] = t.shape;
  });
  fs.writeFileSync(path.join(outDir, 'shapes.json'), JSON.stringify({ shapes, ms }));
}
main().catch((e) => { console.error(e); process.exit(1); });
"""


def run_tfjs(
    tfjs_dir: Path, model_json: Path, x: np.ndarray, names: list[str]
) -> tuple[dict[str, np.ndarray], float]:
    """Run the model in TensorFlow.js (CPU backend) and return {name: output}, milliseconds."""
    with tempfile.TemporaryDirectory(prefix="tfjsref-") as tmp:
        work = Path(tmp)
        (work / "run.js").write_text(NODE_SCRIPT)
        x.astype(np.float32).tofile(work / "input.bin")
        (work / "shape.json").write_text(json.dumps(list(x.shape)))
        args = [str(tfjs_dir.resolve()), str(model_json.resolve()), "input.bin", "shape.json", "."]
        subprocess.run(["node", "run.js", *args, *names], cwd=work, check=True)
        meta = json.loads((work / "shapes.json").read_text())
        outs = {
            name: np.fromfile(work / f"{i}.bin", dtype=np.float32).reshape(meta["shapes"][name])
            for i, name in enumerate(names)
        }
    return outs, float(meta["ms"])


def compare(args: argparse.Namespace) -> int:
    model_json, spec = read_model_json(args.model)
    heads = [o["name"] for o in spec.get("signature", {}).get("outputs", {}).values()]
    side, layout = _signature_input(spec)
    size = args.size or side or 512
    if size != side:
        heads = []  # the heads resize to constant, export-time sizes: compare the backbone only
    names = args.outputs or heads + [t for t in TAPS if t in _node_names(spec)]
    shape = (1, 3, size, size) if layout == "nchw" else (1, size, size, 3)
    x = np.random.default_rng(args.seed).uniform(args.low, args.high, shape).astype(np.float32)
    graph = load_tfjs_graph(model_json, outputs=names)
    t0 = time.perf_counter()
    with torch.no_grad():
        ours = {k: v.numpy() for k, v in graph(torch.from_numpy(x)).items()}
    print(f"torch: {len(names)} outputs in {time.perf_counter() - t0:.2f}s at {size}x{size} ({layout})")
    tfjs_dir = Path(args.tfjs)
    if shutil.which("node") is None or not (tfjs_dir / "@tensorflow/tfjs").is_dir():
        print(f"no reference: node or {tfjs_dir}/@tensorflow/tfjs missing (see the docstring)")
        return 1
    ref, ms = run_tfjs(tfjs_dir, model_json, x, names)
    print(f"tfjs (cpu backend): {ms / 1000:.2f}s")
    worst, rows = 0.0, []
    for name in names:
        a, b = ours[name], ref[name]
        if a.shape != b.shape:
            print(f"{name}: SHAPE MISMATCH torch {a.shape} vs tfjs {b.shape}")
            worst = float("inf")
            continue
        diff = float(np.abs(a - b).max())
        rel = diff / max(float(np.abs(b).max()), 1e-12)
        worst = max(worst, rel)
        scale = float(np.abs(b).max())
        rows.append({"output": name, "shape": list(a.shape), "max_abs_diff": diff, "relative": rel})
        print(f"{name} {list(a.shape)}: max abs diff {diff:.3g}, relative {rel:.3g} (max |tfjs| {scale:.3g})")
    print(f"worst relative difference: {worst:.3g} (target <= 1e-3)")
    result = {"check": "tfjs", "size": size, "layout": layout, "tfjs_ms": ms, "worst_relative": worst}
    _write(args, {**result, "outputs": rows})
    return 0 if worst <= 1e-3 else 2


def shapes(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    model_json, spec = read_model_json(args.model)
    taps = [t for t in TAPS if t in _node_names(spec)]
    nchw = _signature_input(spec)[1] == "nchw"
    rows = []
    for size in args.sizes:
        gen = torch.Generator().manual_seed(args.seed)
        shape = (args.batch, 3, size, size) if nchw else (args.batch, size, size, 3)
        x = torch.rand(*shape, generator=gen) * 255
        for tap in taps:
            graph = load_tfjs_graph(model_json, outputs=[tap])
            with torch.no_grad():
                y = graph(x)[tap]  # also the warm-up
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    graph(x)
                    times.append(time.perf_counter() - t0)
            print(
                f"{size}x{size} {tap}: shape {list(y.shape[1:])} (stride {size // y.shape[-2]}), "
                f"{graph.num_ops} ops, ms/image min {1000 * min(times) / args.batch:.1f} "
                f"median {1000 * statistics.median(times) / args.batch:.1f} "
                f"(batch {args.batch}, {args.repeats} runs, {args.threads} threads)"
            )
            ms = [1000 * t / args.batch for t in times]
            row = {"size": size, "tap": tap, "shape": list(y.shape[1:]), "ops": graph.num_ops}
            rows.append({**row, "ms_min": min(ms), "ms_median": statistics.median(ms)})
    _write(args, {"check": "shapes", "batch": args.batch, "threads": args.threads, "taps": rows})
    return 0


def _write(args: argparse.Namespace, result: dict) -> None:
    """Write the measured numbers (and the command's arguments) as JSON when --out is given."""
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"args": vars(args), **result}, indent=1) + "\n")


def _signature_input(spec: dict) -> tuple[int | None, str]:
    """The input side the model was exported for, and its layout: "nchw" when dim 1 is 3 channels
    and dim 3 is not (an ONNX conversion such as NanoDet's), else "nhwc"."""
    shapes = [i.get("tensorShape", {}) for i in spec.get("signature", {}).get("inputs", {}).values()]
    for node in spec["modelTopology"]["node"]:  # models without a signature: the Placeholder's
        if node["op"] == "Placeholder":
            shapes.append(node.get("attr", {}).get("shape", {}).get("shape", {}))
    for shape in shapes:
        dims = shape.get("dim", [])
        sizes = [int(d.get("size", -1)) for d in dims]
        if len(sizes) == 4 and sizes[1] == 3 and sizes[3] != 3:
            return (sizes[2] if sizes[2] > 0 else None), "nchw"
        if len(sizes) == 4 and sizes[1] > 0:
            return sizes[1], "nhwc"
    return None, "nhwc"


def _node_names(spec: dict) -> set[str]:
    return {n["name"] for n in spec["modelTopology"]["node"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="model.json of a tfjs graph model (or its folder)")
    parser.add_argument("--tfjs", default="/tmp/tfjsref/node_modules", help="node_modules with tfjs")
    parser.add_argument("--size", type=int, help="input side to compare at (default: the exported one)")
    parser.add_argument("--outputs", nargs="+", help="node names to compare (default: heads + taps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--low", type=float, default=0.0, help="input range (uniform), low end")
    parser.add_argument("--high", type=float, default=255.0, help="input range (uniform), high end")
    parser.add_argument("--shapes", action="store_true", help="print tap shapes and timings")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="also write the numbers to this JSON file")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8, help="images per forward pass (--shapes)")
    args = parser.parse_args(argv)
    return shapes(args) if args.shapes else compare(args)


if __name__ == "__main__":
    sys.exit(main())
