"""Run a TensorFlow.js graph model (`model.json` + weight shards) as a torch module, exactly.

A tfjs graph model is a frozen TensorFlow GraphDef in JSON: `modelTopology.node` lists nodes with an
`op`, `input` names (`name`, `name:1` for a second output, `^name` for a control edge) and protobuf-JSON
`attr`s; `weightsManifest` lists the Const values, stored in binary shards that are concatenated in
order, optionally quantized (uint8/uint16 as `value * scale + min`, or float16).

`TfjsGraph` evaluates only the nodes needed for the requested outputs, in topological order, so a
caller can take an intermediate feature map (a backbone's last stage) without running the heads.
Inputs and outputs use TensorFlow's layout (NHWC for images).

>>> tap = "tower_0/extern1/hard_swish/mul_1"  # centernet's stride-32 backbone map
>>> graph = load_tfjs_graph("models/centernet.json", outputs=[tap])  # doctest: +SKIP
>>> graph(torch.rand(1, 224, 224, 3) * 255)[tap].shape  # doctest: +SKIP
torch.Size([1, 7, 7, 480])
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from memesearch.models.tfjs_ops import OPS, Attrs, conv_weight

logger = logging.getLogger(__name__)

_CONV_OPS = {"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"}
_SOURCE_OPS = {"Const", "Placeholder"}
_WEIGHT_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


class TfjsGraphError(ValueError):
    """A tfjs graph model cannot be read or run: names the node, op or file and what was expected."""


@dataclass(frozen=True)
class TfjsNode:
    """One graph node: `inputs` are (node name, output index) data edges; control edges are dropped."""

    name: str
    op: str
    inputs: tuple[tuple[str, int], ...]
    attrs: Attrs = field(default_factory=dict)


def decode_attr(value: Mapping[str, Any]) -> Any:
    """Protobuf-JSON AttrValue -> Python: `{"s": "U0FNRQ=="}` -> "SAME", `{"list": {"i": ["1"]}}` -> [1].

    >>> decode_attr({"list": {"i": ["1", "2", "2", "1"]}}), decode_attr({"b": True})
    ([1, 2, 2, 1], True)
    """
    if "list" in value:
        items = value["list"]
        for key in ("s", "i", "f", "b", "type", "shape"):
            if key in items:
                return [decode_attr({key: v}) for v in items[key]]
        return []
    if "s" in value:
        return base64.b64decode(value["s"]).decode("utf-8", errors="replace")
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return str(value["type"])
    if "shape" in value:
        dims = value["shape"].get("dim", [])
        return [int(d.get("size", -1)) for d in dims]
    return value  # e.g. {"tensor": ...}: kept raw, the value lives in the weights


def parse_input(name: str) -> tuple[str, int] | None:
    """`"a/b:1"` -> ("a/b", 1); `"a/b"` -> ("a/b", 0); a control input `"^a"` -> None."""
    if name.startswith("^"):
        return None
    base, _, index = name.rpartition(":")
    if base and index.isdigit():
        return base, int(index)
    return name, 0


def parse_nodes(topology: Mapping[str, Any]) -> dict[str, TfjsNode]:
    """`modelTopology` -> nodes by name."""
    nodes: dict[str, TfjsNode] = {}
    for raw in topology.get("node", []):
        edges = [parse_input(i) for i in raw.get("input", [])]
        attrs = {k: decode_attr(v) for k, v in raw.get("attr", {}).items()}
        nodes[raw["name"]] = TfjsNode(raw["name"], raw["op"], tuple(e for e in edges if e), attrs)
    return nodes


def read_weights(model_json: Path, manifest: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Decode every weight of a `weightsManifest` (dequantized; float weights as float32)."""
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        chunks = []
        for rel in group.get("paths", []):
            shard = model_json.parent / rel
            if not shard.is_file():
                raise TfjsGraphError(f"weight shard {shard} is missing (listed in {model_json.name})")
            chunks.append(shard.read_bytes())
        data, offset = b"".join(chunks), 0
        for spec in group.get("weights", []):
            name, shape, dtype = spec["name"], [int(d) for d in spec["shape"]], spec["dtype"]
            quant = spec.get("quantization")
            stored = _QUANT_DTYPES.get(quant["dtype"]) if quant else _WEIGHT_DTYPES.get(dtype)
            if stored is None:
                raise TfjsGraphError(
                    f"weight {name!r}: dtype {dtype!r} quantization {quant!r} is not supported "
                    f"(expected {sorted(_WEIGHT_DTYPES)} or quantized {sorted(_QUANT_DTYPES)})"
                )
            count = int(np.prod(shape)) if shape else 1
            nbytes = count * np.dtype(stored).itemsize
            if offset + nbytes > len(data):
                raise TfjsGraphError(
                    f"weight shards of {model_json.name} are too short: {name!r} needs bytes "
                    f"{offset}..{offset + nbytes}, shards hold {len(data)}"
                )
            raw: np.ndarray = np.frombuffer(data, dtype=stored, count=count, offset=offset).reshape(shape)
            offset += nbytes
            weights[name] = _dequantize(raw, dtype, quant)
    return weights


def _dequantize(raw: np.ndarray, dtype: str, quant: Mapping[str, Any] | None) -> np.ndarray:
    if not quant:
        return raw.astype(raw.dtype)  # a copy: frombuffer views are read-only
    if quant["dtype"] == "float16":
        values = raw.astype(np.float32)
    else:
        values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
    return np.round(values).astype(np.int32) if dtype == "int32" else values


def _plan(nodes: Mapping[str, TfjsNode], outputs: Sequence[str]) -> list[str]:
    """Node names needed for `outputs`, in topological order (iterative DFS, no recursion limit)."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for out in outputs:
        stack: list[tuple[str, bool]] = [(out, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                state[name] = 2
                order.append(name)
                continue
            if state.get(name) == 2:
                continue
            if state.get(name) == 1:
                raise TfjsGraphError(f"graph has a cycle through node {name!r}")
            if name not in nodes:
                raise TfjsGraphError(f"node {name!r} is not in the graph (an input of a needed node?)")
            state[name] = 1
            stack.append((name, True))
            for dep, _ in reversed(nodes[name].inputs):
                if state.get(dep) != 2:
                    stack.append((dep, False))
    return order


class TfjsGraph(nn.Module):
    """A tfjs graph model as a torch module returning `{output name: tensor}` for named outputs.

    Float constants are float32 buffers (conv filters already in torch layout); integer constants
    (shapes, axes) stay int32. Only nodes the outputs depend on are kept.
    """

    def __init__(
        self,
        nodes: Mapping[str, TfjsNode],
        weights: Mapping[str, np.ndarray],
        outputs: Sequence[str],
    ) -> None:
        super().__init__()
        if not outputs:
            raise TfjsGraphError("no outputs requested: pass outputs=[node name, ...]")
        self.outputs = list(outputs)
        wanted = [parse_input(o) or (o, 0) for o in outputs]
        order = _plan(nodes, [name for name, _ in wanted])
        unsupported = [n for n in order if nodes[n].op not in OPS and nodes[n].op not in _SOURCE_OPS]
        if unsupported:
            n = nodes[unsupported[0]]
            raise TfjsGraphError(
                f"op {n.op!r} (node {n.name!r}) is not supported; supported ops: "
                f"{sorted(OPS)} (+{len(unsupported) - 1} more unsupported nodes)"
            )
        self.inputs = [n for n in order if nodes[n].op == "Placeholder"]
        self._wanted = wanted
        self._consts: dict[str, str] = {}  # node name -> buffer name
        self._steps: list[TfjsNode] = []
        for name in order:
            node = nodes[name]
            if node.op == "Const":
                self._add_const(node, weights)
            elif node.op != "Placeholder":
                self._steps.append(node)
        self._last_use = self._liveness()

    def _new_buffer_name(self) -> str:
        self._n_buffers = getattr(self, "_n_buffers", 0) + 1
        return f"const_{self._n_buffers}"

    @property
    def num_ops(self) -> int:
        """How many non-source nodes one forward pass evaluates."""
        return len(self._steps)

    def _add_const(self, node: TfjsNode, weights: Mapping[str, np.ndarray]) -> None:
        if node.name not in weights:
            raise TfjsGraphError(f"Const node {node.name!r} has no value in weightsManifest")
        value = torch.from_numpy(np.ascontiguousarray(weights[node.name]))
        if value.is_floating_point():
            value = value.float()
        buffer = self._new_buffer_name()
        self._consts[node.name] = buffer
        self.register_buffer(buffer, value, persistent=False)

    def _liveness(self) -> dict[str, int]:
        last: dict[str, int] = {}
        for i, node in enumerate(self._steps):
            for dep, _ in node.inputs:
                last[dep] = i
        return last

    def prepare_conv_weights(self) -> None:
        """Convert constant conv filters to torch layout once, so `forward` does not permute them.

        The converted filter replaces the node's filter input; a TF-layout filter no other node
        reads is dropped, so each weight is held once.
        """
        for i, node in enumerate(self._steps):
            filt = node.inputs[1][0] if len(node.inputs) > 1 else ""
            if node.op not in _CONV_OPS or filt not in self._consts or node.attrs.get("_torch_weight"):
                continue
            prepared = f"{filt}:torch"  # ":" cannot occur in a TF node name
            if prepared not in self._consts:
                source = getattr(self, self._consts[filt])
                buffer = self._new_buffer_name()
                self.register_buffer(buffer, conv_weight(source, "Depthwise" in node.op), persistent=False)
                self._consts[prepared] = buffer
            inputs = (node.inputs[0], (prepared, 0), *node.inputs[2:])
            self._steps[i] = TfjsNode(node.name, node.op, inputs, {**node.attrs, "_torch_weight": True})
        used = {dep for step in self._steps for dep, _ in step.inputs} | {n for n, _ in self._wanted}
        for name in [n for n in self._consts if n not in used]:
            delattr(self, self._consts.pop(name))
        self._last_use = self._liveness()

    def forward(self, x: torch.Tensor | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Evaluate the graph. `x`: the only input tensor, or {placeholder name: tensor}."""
        feeds = dict(x) if isinstance(x, Mapping) else {self._single_input(): x}
        values: dict[str, tuple[torch.Tensor, ...]] = {}
        for name in self.inputs:
            if name not in feeds:
                raise TfjsGraphError(f"missing input {name!r}; inputs: {self.inputs}")
            values[name] = (feeds[name].float(),)
        for name, buffer in self._consts.items():
            values[name] = (getattr(self, buffer),)
        keep = {name for name, _ in self._wanted}
        for i, node in enumerate(self._steps):
            ins = [values[dep][idx] for dep, idx in node.inputs]
            try:
                values[node.name] = OPS[node.op](node.attrs, ins)
            except (RuntimeError, ValueError, IndexError) as err:
                shapes = [tuple(t.shape) for t in ins]
                raise TfjsGraphError(
                    f"node {node.name!r} (op {node.op}) failed on inputs {shapes}: {err}"
                ) from err
            for dep in {dep for dep, _ in node.inputs}:  # a node may read one input twice
                if self._last_use.get(dep) == i and dep not in keep and dep not in self._consts:
                    del values[dep]
        return {out: values[name][idx] for out, (name, idx) in zip(self.outputs, self._wanted, strict=True)}

    def _single_input(self) -> str:
        if len(self.inputs) != 1:
            raise TfjsGraphError(f"graph needs {len(self.inputs)} inputs {self.inputs}: pass a dict")
        return self.inputs[0]


def read_model_json(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """A model.json path (or its folder) -> (path, parsed json); checks it is a graph model."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.json"
    if not path.is_file():
        raise TfjsGraphError(f"{path} not found: expected a tfjs model.json (or its folder)")
    spec = json.loads(path.read_text())
    if "modelTopology" not in spec or "node" not in spec.get("modelTopology", {}):
        raise TfjsGraphError(f"{path} is not a tfjs graph model (no modelTopology.node)")
    return path, spec


def load_tfjs_graph(path: str | Path, outputs: Sequence[str] | None = None) -> TfjsGraph:
    """Load a tfjs graph model; `outputs` default to the model's signature outputs."""
    path, spec = read_model_json(path)
    nodes = parse_nodes(spec["modelTopology"])
    if outputs is None:
        outputs = [o["name"] for o in spec.get("signature", {}).get("outputs", {}).values()]
    weights = read_weights(path, spec.get("weightsManifest", []))
    graph = TfjsGraph(nodes, weights, list(outputs))
    graph.prepare_conv_weights()
    logger.info("loaded %s: %d ops for outputs %s", path, graph.num_ops, list(outputs))
    return graph


def trim_tfjs_graph(
    path: str | Path, outputs: Sequence[str], out_dir: str | Path, *, note: str = ""
) -> dict[str, Any]:
    """Write the part of a tfjs graph model that `outputs` need to `out_dir` (`model.json` and one
    shard `weights.bin`): a backbone cut from a detector, a few MB instead of the whole model.

    Weights keep the values they had: float weights that were stored as float16 stay float16 (exact),
    other weights are written as stored after dequantization (float32 / int32). The new `model.json`
    keeps the source's format fields, names the outputs in its signature and records `note` and the
    source under `userDefinedMetadata.trimmed_from`. Returns the new `model.json` as a dict.
    """
    path, spec = read_model_json(path)
    nodes = parse_nodes(spec["modelTopology"])
    wanted = [(parse_input(o) or (o, 0))[0] for o in outputs]
    keep = set(_plan(nodes, wanted))
    raw_nodes = [n for n in spec["modelTopology"]["node"] if n["name"] in keep]
    weights = read_weights(path, spec.get("weightsManifest", []))
    manifest_specs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for group in spec.get("weightsManifest", []):
        for w in group.get("weights", []):
            if w["name"] not in keep:
                continue
            value = weights[w["name"]]
            quant = w.get("quantization")
            entry = {"name": w["name"], "shape": list(w["shape"]), "dtype": w["dtype"]}
            if quant and quant.get("dtype") == "float16":
                entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
                chunks.append(value.astype(np.float16).tobytes())
            else:
                chunks.append(value.astype(_WEIGHT_DTYPES[w["dtype"]]).tobytes())
            manifest_specs.append(entry)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "weights.bin").write_bytes(b"".join(chunks))
    trimmed = {k: v for k, v in spec.items() if k not in ("modelTopology", "weightsManifest", "signature")}
    trimmed["modelTopology"] = {**spec["modelTopology"], "node": raw_nodes}
    trimmed["signature"] = {"outputs": {o: {"name": o} for o in outputs}}
    trimmed["weightsManifest"] = [{"paths": ["weights.bin"], "weights": manifest_specs}]
    meta = dict(spec.get("userDefinedMetadata", {}))
    meta["trimmed_from"] = {
        "source": path.name,
        "outputs": list(outputs),
        "nodes": len(raw_nodes),
        "note": note,
    }
    trimmed["userDefinedMetadata"] = meta
    (out_dir / "model.json").write_text(json.dumps(trimmed, indent=1) + "\n", encoding="utf-8")
    return trimmed
