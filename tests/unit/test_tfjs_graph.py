"""TfjsGraph against independent numpy references, on small tfjs graph models written by the tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from memesearch.models.tfjs_graph import TfjsGraphError, decode_attr, load_tfjs_graph

RNG = np.random.default_rng(0)


def s_(v: str) -> dict[str, Any]:
    return {"s": base64.b64encode(v.encode()).decode()}


def ints(*v: int) -> dict[str, Any]:
    return {"list": {"i": [str(i) for i in v]}}


def strs(*v: str) -> dict[str, Any]:
    return {"list": {"s": [s_(x)["s"] for x in v]}}


def node(name: str, op: str, *inputs: str, **attr: Any) -> dict[str, Any]:
    return {"name": name, "op": op, "input": list(inputs), "attr": attr}


def conv_attrs(padding: str = "SAME", stride: int = 1, dil: int = 1, **extra: Any) -> dict:
    return {
        "padding": s_(padding),
        "strides": ints(1, stride, stride, 1),
        "dilations": ints(1, dil, dil, 1),
        "data_format": s_("NHWC"),
        "explicit_paddings": {"list": {}},
        **extra,
    }


def write_model(
    tmp: Path,
    nodes: list[dict],
    consts: dict[str, np.ndarray],
    quant: dict[str, str] | None = None,
    shards: int = 2,
) -> Path:
    """model.json + shards; `quant` maps a const name to uint8/uint16/float16 storage."""
    specs, blobs = [], []
    for name, value in consts.items():
        dtype = "int32" if value.dtype.kind == "i" else "float32"
        spec: dict[str, Any] = {"name": name, "shape": list(value.shape), "dtype": dtype}
        q = (quant or {}).get(name)
        if q == "float16":
            spec["quantization"] = {"dtype": "float16"}
            blobs.append(value.astype(np.float16).tobytes())
        elif q in ("uint8", "uint16"):
            lo, hi = float(value.min()), float(value.max())
            scale = (hi - lo) / (255 if q == "uint8" else 65535)
            codes = np.round((value - lo) / scale).astype(q)
            spec["quantization"] = {"dtype": q, "scale": scale, "min": lo}
            blobs.append(codes.tobytes())
        else:
            blobs.append(value.astype(np.int32 if dtype == "int32" else np.float32).tobytes())
        specs.append(spec)
    data = b"".join(blobs)
    cut = [len(data) * i // shards for i in range(shards + 1)]  # shards split mid-weight
    paths = []
    for i in range(shards):
        paths.append(f"group1-shard{i + 1}of{shards}.bin")
        (tmp / paths[-1]).write_bytes(data[cut[i] : cut[i + 1]])
    const_nodes = [node(n, "Const") for n in consts]
    placeholder = node("x", "Placeholder", dtype={"type": "DT_FLOAT"})
    spec_json = {
        "format": "graph-model",
        "modelTopology": {"node": [placeholder, *const_nodes, *nodes]},
        "weightsManifest": [{"paths": paths, "weights": specs}],
    }
    (tmp / "model.json").write_text(json.dumps(spec_json))
    return tmp / "model.json"


def run(path: Path, x: np.ndarray, outputs: list[str]) -> dict[str, np.ndarray]:
    graph = load_tfjs_graph(path, outputs=outputs)
    with torch.no_grad():
        return {k: v.numpy() for k, v in graph(torch.from_numpy(x.astype(np.float32))).items()}


def np_conv(x: np.ndarray, w: np.ndarray, stride: int, pads: tuple, dil: int = 1, dw: bool = False):
    """Shift-and-add NHWC conv in float64. w: HWIO, or HW C M when dw. pads: (top, bottom, left, right)."""
    t, b, left, r = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (t, b), (left, r), (0, 0)))
    kh, kw = w.shape[:2]
    oh = (xp.shape[1] - (kh - 1) * dil - 1) // stride + 1
    ow = (xp.shape[2] - (kw - 1) * dil - 1) // stride + 1
    out = 0.0
    for i in range(kh):
        for j in range(kw):
            patch = xp[
                :,
                i * dil : i * dil + (oh - 1) * stride + 1 : stride,
                j * dil : j * dil + (ow - 1) * stride + 1 : stride,
            ]
            if dw:
                prod = patch[..., :, None] * w[i, j][None, None, None]
                out = out + prod.reshape(*prod.shape[:3], -1)
            else:
                out = out + patch @ w[i, j]
    return out


@pytest.mark.parametrize(
    ("hw", "stride", "dil", "padding", "pads"),
    [
        ((8, 7), 2, 1, "SAME", (0, 1, 1, 1)),  # even H: TF puts the odd pad row at the bottom
        ((7, 7), 1, 1, "SAME", (1, 1, 1, 1)),
        ((9, 9), 1, 2, "VALID", (0, 0, 0, 0)),
        ((6, 6), 2, 1, "EXPLICIT", (2, 0, 1, 3)),
    ],
)
def test_conv2d_matches_numpy(tmp_path: Path, hw, stride, dil, padding, pads) -> None:
    x = RNG.normal(size=(2, *hw, 3))
    w = RNG.normal(size=(3, 3, 3, 5)).astype(np.float32)
    extra = {"explicit_paddings": ints(0, 0, *pads, 0, 0)} if padding == "EXPLICIT" else {}
    attrs = {**conv_attrs(padding, stride, dil), **extra}
    path = write_model(tmp_path, [node("y", "Conv2D", "x", "w", **attrs)], {"w": w})
    got = run(path, x, ["y"])["y"]
    np.testing.assert_allclose(got, np_conv(x, w, stride, pads, dil), rtol=1e-5, atol=1e-5)


def test_nchw_data_format_and_shared_filter(tmp_path: Path) -> None:
    """A filter read by two convs (one NCHW) and an Identity is converted once and still exact."""
    x = RNG.normal(size=(1, 6, 5, 3))
    w = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)
    nchw = {**conv_attrs("SAME", 2), "strides": ints(1, 1, 2, 2), "data_format": s_("NCHW")}
    nodes = [
        node("t", "Transpose", "x"),  # never needed: NCHW input is fed through a Placeholder below
        node("xc", "Placeholder"),
        node("a", "Conv2D", "x", "w", **conv_attrs("SAME", 2)),
        node("b", "Conv2D", "xc", "w", **nchw),
        node("wid", "Identity", "w"),
    ]
    graph = load_tfjs_graph(write_model(tmp_path, nodes, {"w": w}), outputs=["a", "b", "wid"])
    feeds = {"x": torch.from_numpy(x.astype(np.float32))}
    feeds["xc"] = feeds["x"].permute(0, 3, 1, 2)
    got = {k: v.numpy() for k, v in graph(feeds).items()}
    ref = np_conv(x, w, 2, (0, 1, 1, 1))  # H 6 -> pad (0, 1); W 5 -> pad (1, 1)
    np.testing.assert_allclose(got["a"], ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["b"], ref.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got["wid"], w)
    assert len(list(graph.buffers())) == 2  # the TF-layout filter (read by Identity) + one torch copy


def test_depthwise_with_multiplier_and_fused_relu(tmp_path: Path) -> None:
    x = RNG.normal(size=(1, 8, 8, 4))
    w = RNG.normal(size=(3, 3, 4, 2)).astype(np.float32)
    bias = RNG.normal(size=(8,)).astype(np.float32)
    nodes = [
        node("d", "DepthwiseConv2dNative", "x", "w", **conv_attrs("SAME", 2)),
        node("f", "FusedDepthwiseConv2dNative", "x", "w", "b", **conv_attrs("SAME", 2),
             fused_ops=strs("BiasAdd", "Relu"), num_args={"i": "1"}),
    ]  # fmt: skip
    got = run(write_model(tmp_path, nodes, {"w": w, "b": bias}), x, ["d", "f"])
    ref = np_conv(x, w, 2, (0, 1, 0, 1), dw=True)  # channel order c * M + m, as in TF
    np.testing.assert_allclose(got["d"], ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["f"], np.maximum(ref + bias, 0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("fused", "act"),
    [
        (["BiasAdd"], lambda y, a: y),
        (["BiasAdd", "Relu6"], lambda y, a: np.clip(y, 0, 6)),
        (["BiasAdd", "Prelu"], lambda y, a: np.where(y >= 0, y, a * y)),
        (["BiasAdd", "LeakyRelu"], lambda y, a: np.where(y >= 0, y, 0.1 * y)),
        (["BiasAdd", "Sigmoid"], lambda y, a: 1 / (1 + np.exp(-y))),
    ],
)
def test_fused_conv_bias_and_activation(tmp_path: Path, fused, act) -> None:
    x = RNG.normal(size=(1, 5, 5, 3)) * 3
    w = RNG.normal(size=(1, 1, 3, 4)).astype(np.float32)
    b = RNG.normal(size=(4,)).astype(np.float32)
    alpha = RNG.uniform(0, 0.5, size=(4,)).astype(np.float32)
    ins = ["x", "w", "b"] + (["a"] if "Prelu" in fused else [])
    attrs = {**conv_attrs(), "fused_ops": strs(*fused), "leakyrelu_alpha": {"f": 0.1}}
    path = write_model(tmp_path, [node("y", "_FusedConv2D", *ins, **attrs)], {"w": w, "b": b, "a": alpha})
    ref = act(np_conv(x, w, 1, (0, 0, 0, 0)) + b, alpha)
    np.testing.assert_allclose(run(path, x, ["y"])["y"], ref, rtol=1e-5, atol=1e-5)


def test_mean_concat_and_elementwise(tmp_path: Path) -> None:
    x = RNG.normal(size=(2, 4, 6, 3))
    c = RNG.normal(size=(3,)).astype(np.float32)
    nodes = [
        node("m", "Mean", "x", "axes", keep_dims={"b": True}),
        node("m2", "Mean", "x", "axes", keep_dims={"b": False}),
        node("mul", "Mul", "c", "x"),
        node("add", "Add", "mul", "m"),  # broadcast (2,1,1,3) over (2,4,6,3)
        node("sub", "Sub", "add", "c"),
        node("r6", "Relu6", "sub"),
        node("sig", "Sigmoid", "r6"),
        node("cat0", "ConcatV2", "sig", "x", "axis"),
        node("cat", "Mul", "cat0", "cat0"),  # one intermediate read twice by the same node
        node("out", "Identity", "cat"),
    ]
    consts = {"axes": np.array([1, 2], np.int32), "c": c, "axis": np.array(-1, np.int32)}
    got = run(write_model(tmp_path, nodes, consts), x, ["m", "m2", "out"])
    m = x.mean(axis=(1, 2), keepdims=True)
    sig = 1 / (1 + np.exp(-np.clip(c * x + m - c, 0, 6)))
    np.testing.assert_allclose(got["m"], m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["m2"], m[:, 0, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["out"], np.concatenate([sig, x], -1) ** 2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("align", "half", "out_w", "expected"),
    [
        (False, False, 4, [0, 5, 10, 10]),  # legacy TF: src = dst * in / out
        (False, True, 4, [0, 2.5, 7.5, 10]),  # half pixel: src = (dst + .5) * in / out - .5
        (True, False, 3, [0, 5, 10]),  # align corners: src = dst * (in - 1) / (out - 1)
    ],
)
def test_resize_bilinear_on_a_known_grid(tmp_path: Path, align, half, out_w, expected) -> None:
    attrs = {"align_corners": {"b": align}, "half_pixel_centers": {"b": half}}
    nodes = [node("y", "ResizeBilinear", "x", "size", **attrs)]
    path = write_model(tmp_path, nodes, {"size": np.array([out_w, out_w], np.int32)})
    row = np.array([0.0, 10.0])
    x = (row[:, None] * 2 + row[None, :])[None, :, :, None]  # f(r, c) = 2 r + c, separable
    e = np.array(expected)
    got = run(path, x, ["y"])["y"]
    np.testing.assert_allclose(got[0, :, :, 0], 2 * e[:, None] + e[None, :], atol=1e-5)


@pytest.mark.parametrize(("size", "stride", "pads"), [(6, 1, (1, 1)), (6, 2, (0, 1)), (5, 2, (1, 1))])
def test_max_pool_same_pads_with_minus_infinity(tmp_path: Path, size, stride, pads) -> None:
    x = -np.abs(RNG.normal(size=(1, size, size, 2))) - 1  # all negative: a zero pad would win
    attrs = {"ksize": ints(1, 3, 3, 1), "strides": ints(1, stride, stride, 1), "padding": s_("SAME")}
    got = run(write_model(tmp_path, [node("y", "MaxPool", "x", **attrs)], {}), x, ["y"])["y"]
    xp = np.pad(x, ((0, 0), pads, pads, (0, 0)), constant_values=-np.inf)
    out = -(-size // stride)
    ref = np.full((1, out, out, 2), -np.inf)
    for i in range(3):
        for j in range(3):
            ref = np.maximum(
                ref, xp[:, i : i + (out - 1) * stride + 1 : stride, j : j + (out - 1) * stride + 1 : stride]
            )
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_peak_topk_gather_postprocessing(tmp_path: Path) -> None:
    """The CenterNet decode ops: Equal/Cast peaks, Reshape, TopKV2 (ties -> lower index), int math."""
    x = np.array([[[[1.0], [3.0]], [[3.0], [0.5]]]])  # (1, 2, 2, 1), a tie at flat index 1 and 2
    nodes = [
        node("flat", "Reshape", "x", "shape"),
        node("top", "TopKV2", "flat", "k", sorted={"b": True}),
        node("row", "FloorDiv", "top:1", "two"),
        node("col", "FloorMod", "top:1", "two"),
        node("neg", "FloorDiv", "minus", "two"),
        node("negmod", "FloorMod", "minus", "two"),
        node("eq", "Equal", "flat", "three"),
        node("eqf", "Cast", "eq", DstT={"type": "DT_FLOAT"}, SrcT={"type": "DT_BOOL"}),
        node("colf", "Cast", "col", DstT={"type": "DT_FLOAT"}),
        node("gath", "GatherV2", "flat", "idx", "axis1", batch_dims={"i": "0"}),
        node("exp", "ExpandDims", "top", "axis1"),
        node("sl", "StridedSlice", "x", "b", "e", "st", begin_mask={"i": "1"}, end_mask={"i": "0"},
             shrink_axis_mask={"i": "8"}, ellipsis_mask={"i": "0"}, new_axis_mask={"i": "0"}),
        node("ctrl", "Identity", "exp", "^eq"),
        node("rev", "StridedSlice", "flat", "b0", "e0", "neg1", begin_mask={"i": "0"}, end_mask={"i": "2"},
             shrink_axis_mask={"i": "0"}, ellipsis_mask={"i": "1"}, new_axis_mask={"i": "0"}),
    ]  # fmt: skip
    consts = {
        "shape": np.array([1, -1], np.int32),
        "k": np.array(3, np.int32),
        "two": np.array(2, np.int32),
        "minus": np.array([-3, 3], np.int32),
        "three": np.array(3.0, np.float32),
        "idx": np.array([[3, 0]], np.int32),
        "axis1": np.array(1, np.int32),
        "b": np.array([0, 1, 0, 0], np.int32),
        "e": np.array([1, 2, 1, 1], np.int32),
        "st": np.array([1, 1, 1, 1], np.int32),
        "b0": np.array([0, -1], np.int32),
        "e0": np.array([0, 0], np.int32),
        "neg1": np.array([1, -1], np.int32),
    }
    path = write_model(tmp_path, nodes, consts)
    outs = ["top", "top:1", "row", "col", "neg", "negmod", "eqf", "colf", "gath", "ctrl", "sl", "rev"]
    got = run(path, x, outs)
    np.testing.assert_array_equal(got["top"], [[3, 3, 1]])
    np.testing.assert_array_equal(got["top:1"], [[1, 2, 0]])
    assert got["top:1"].dtype == np.int32
    np.testing.assert_array_equal(got["row"], [[0, 1, 0]])
    np.testing.assert_array_equal(got["col"], [[1, 0, 0]])
    np.testing.assert_array_equal(got["neg"], [-2, 1])  # floor, not truncation
    np.testing.assert_array_equal(got["negmod"], [1, 1])  # sign of the divisor
    np.testing.assert_array_equal(got["eqf"], [[0, 1, 1, 0]])
    np.testing.assert_array_equal(got["colf"], [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(got["gath"], [[[0.5, 1.0]]])
    np.testing.assert_array_equal(got["ctrl"], [[[3, 3, 1]]])
    np.testing.assert_array_equal(got["sl"], x[:1, 1:2, :1, 0])
    np.testing.assert_array_equal(got["rev"], [[0.5, 3, 3, 1]])  # flat[..., -1::-1]: a negative step


def _chain(tmp_path: Path, quant: dict[str, str] | None = None) -> tuple[Path, dict[str, np.ndarray]]:
    w1 = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)
    w2 = RNG.normal(size=(1, 1, 4, 2)).astype(np.float32)
    b1 = RNG.normal(size=(4,)).astype(np.float32)
    nodes = [
        node("c1", "_FusedConv2D", "x", "w1", "b1", **conv_attrs("SAME", 2),
             fused_ops=strs("BiasAdd", "Relu")),
        node("c2", "Conv2D", "c1", "w2", **conv_attrs()),
        node("head", "NotARealOp", "c2"),
    ]  # fmt: skip
    consts = {"w1": w1, "b1": b1, "w2": w2}
    return write_model(tmp_path, nodes, consts, quant=quant, shards=3), consts


def test_intermediate_outputs_skip_unneeded_nodes(tmp_path: Path) -> None:
    path, c = _chain(tmp_path)
    x = RNG.normal(size=(1, 6, 6, 3))
    graph = load_tfjs_graph(path, outputs=["c1"])
    assert graph.num_ops == 1 and graph.inputs == ["x"]
    got = graph({"x": torch.from_numpy(x.astype(np.float32))})
    ref1 = np.maximum(np_conv(x, c["w1"], 2, (0, 1, 0, 1)) + c["b1"], 0)
    np.testing.assert_allclose(got["c1"].numpy(), ref1, rtol=1e-5, atol=1e-5)
    both = run(path, x, ["c2", "c1"])  # the unsupported head is never needed
    np.testing.assert_allclose(both["c2"], np_conv(ref1, c["w2"], 1, (0, 0, 0, 0)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("q", "tol"), [("uint8", 1 / 255), ("uint16", 1 / 65535), ("float16", 1e-3)])
def test_quantized_weights_are_dequantized(tmp_path: Path, q: str, tol: float) -> None:
    path, c = _chain(tmp_path, quant={"w1": q, "b1": q})
    x = RNG.normal(size=(1, 6, 6, 3))
    got = run(path, x, ["c1"])["c1"]

    def deq(v: np.ndarray) -> np.ndarray:
        if q == "float16":
            return v.astype(np.float16).astype(np.float32)
        lo, scale = float(v.min()), (float(v.max()) - float(v.min())) / (255 if q == "uint8" else 65535)
        codes = np.round((v - lo) / scale)
        return (codes.astype(np.float32) * np.float32(scale) + np.float32(lo)).astype(np.float32)

    w, b = deq(c["w1"]), deq(c["b1"])
    assert np.abs(w - c["w1"]).max() <= tol * (np.ptp(c["w1"]) + 1) and np.abs(w - c["w1"]).max() > 0
    ref = np.maximum(np_conv(x, w, 2, (0, 1, 0, 1)) + b, 0)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_errors_name_the_problem(tmp_path: Path) -> None:
    path, _ = _chain(tmp_path)
    with pytest.raises(TfjsGraphError, match=r"op 'NotARealOp' \(node 'head'\) is not supported"):
        load_tfjs_graph(path, outputs=["head"])
    with pytest.raises(TfjsGraphError, match="node 'nope' is not in the graph"):
        load_tfjs_graph(path, outputs=["nope"])
    shard = tmp_path / "group1-shard3of3.bin"
    shard.write_bytes(shard.read_bytes()[:-4])
    with pytest.raises(TfjsGraphError, match="too short: 'w2' needs bytes"):
        load_tfjs_graph(path, outputs=["c2"])
    shard.unlink()
    with pytest.raises(TfjsGraphError, match=r"group1-shard3of3\.bin is missing"):
        load_tfjs_graph(path, outputs=["c2"])
    with pytest.raises(TfjsGraphError, match=r"not found: expected a tfjs model\.json"):
        load_tfjs_graph(tmp_path / "nowhere")


def test_runtime_errors_name_the_node(tmp_path: Path) -> None:
    path, _ = _chain(tmp_path)
    graph = load_tfjs_graph(path, outputs=["c2"])
    with pytest.raises(TfjsGraphError, match=r"node 'c1' \(op _FusedConv2D\) failed on inputs"):
        graph(torch.zeros(1, 6, 6, 5))  # 5 channels where the filter expects 3


def test_decode_attr_protobuf_json() -> None:
    assert decode_attr({"s": "U0FNRQ=="}) == "SAME"
    assert decode_attr({"list": {"i": ["1", "2", "2", "1"]}}) == [1, 2, 2, 1]
    assert decode_attr({"list": {}}) == []
    assert decode_attr({"list": {"s": ["Qmlhc0FkZA==", "UmVsdQ=="]}}) == ["BiasAdd", "Relu"]
    assert decode_attr({"f": 0.2}) == 0.2 and decode_attr({"i": "7"}) == 7
    assert decode_attr({"b": True}) is True and decode_attr({"type": "DT_FLOAT"}) == "DT_FLOAT"
    assert decode_attr({"shape": {"dim": [{"size": "1"}, {"size": "-1"}, {}]}}) == [1, -1, -1]


@pytest.mark.parametrize(("size", "stride", "pads"), [(6, 2, (0, 1)), (5, 1, (1, 1)), (6, 3, (0, 0))])
def test_avg_pool_same_averages_real_cells_only(tmp_path: Path, size, stride, pads) -> None:
    x = RNG.normal(size=(1, size, size, 2))
    attrs = {"ksize": ints(1, 3, 3, 1), "strides": ints(1, stride, stride, 1), "padding": s_("SAME")}
    got = run(write_model(tmp_path, [node("y", "AvgPool", "x", **attrs)], {}), x, ["y"])["y"]
    out = -(-size // stride)
    ref = np.zeros((1, out, out, 2))
    for i in range(out):
        for j in range(out):
            r0, c0 = i * stride - pads[0], j * stride - pads[0]
            win = x[:, max(r0, 0) : r0 + 3, max(c0, 0) : c0 + 3]  # only cells inside the image
            ref[:, i, j] = win.mean(axis=(1, 2))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_pad_matmul_and_tensor_ops(tmp_path: Path) -> None:
    x = RNG.normal(size=(2, 3, 4, 1))
    w = RNG.normal(size=(5, 4)).astype(np.float32)
    b = RNG.normal(size=(5,)).astype(np.float32)
    nodes = [
        node("p", "Pad", "x", "pads"),
        node("p2", "PadV2", "x", "pads", "fill"),
        node("sq", "Squeeze", "x", squeeze_dims=ints(-1)),
        node("mm", "MatMul", "sq", "w", transpose_b={"b": True}),
        node("fmm", "_FusedMatMul", "sq", "w", "b", transpose_b={"b": True},
             fused_ops=strs("BiasAdd", "Relu")),
        node("t", "Transpose", "sq", "perm"),
        node("an", "AddN", "sq", "sq", "sq"),
        node("pk", "Pack", "sq", "sq", axis={"i": "1"}),
        node("sum", "Sum", "sq", "ax", keep_dims={"b": False}),
        node("max", "Max", "sq", "ax", keep_dims={"b": True}),
        node("min", "Min", "sq", "ax2", keep_dims={"b": False}),
        node("prod", "Prod", "sq", "ax2", keep_dims={"b": False}),
        node("sm", "Softmax", "sq"),
        node("rs", "Rsqrt", "sm"),
        node("sd", "SquaredDifference", "sq", "sm"),
        node("gt", "Greater", "sq", "sm"),
        node("shape", "Shape", "p"),
    ]  # fmt: skip
    consts = {
        "pads": np.array([[0, 0], [1, 2], [0, 1], [0, 0]], np.int32),
        "fill": np.array(-7.0, np.float32),
        "w": w,
        "b": b,
        "perm": np.array([2, 0, 1], np.int32),
        "ax": np.array([-1], np.int32),
        "ax2": np.array([0, 2], np.int32),
    }
    outs = [n["name"] for n in nodes]
    got = run(write_model(tmp_path, nodes, consts), x, outs)
    sq = x[..., 0]
    padw = ((0, 0), (1, 2), (0, 1), (0, 0))
    sm = np.exp(sq) / np.exp(sq).sum(-1, keepdims=True)
    expected = {
        "p": np.pad(x, padw),
        "p2": np.pad(x, padw, constant_values=-7.0),
        "sq": sq,
        "mm": sq @ w.T,
        "fmm": np.maximum(sq @ w.T + b, 0),
        "t": sq.transpose(2, 0, 1),
        "an": 3 * sq,
        "pk": np.stack([sq, sq], 1),
        "sum": sq.sum(-1),
        "max": sq.max(-1, keepdims=True),
        "min": sq.min((0, 2)),
        "prod": sq.prod((0, 2)),
        "sm": sm,
        "rs": 1 / np.sqrt(sm),
        "sd": (sq - sm) ** 2,
        "gt": sq > sm,
        "shape": np.array([2, 6, 5, 1]),
    }
    for name, ref in expected.items():
        np.testing.assert_allclose(got[name], ref, rtol=1e-5, atol=1e-5, err_msg=name)


def test_graph_level_errors(tmp_path: Path) -> None:
    nodes = [
        node("orphan", "Const"),  # declared, but with no value in the manifest
        node("u", "Add", "x", "orphan"),
        node("a", "Add", "b", "x"),
        node("b", "Add", "a", "x"),
    ]
    path = write_model(tmp_path, nodes, {"w": np.zeros(2, np.float32)})
    with pytest.raises(TfjsGraphError, match="Const node 'orphan' has no value in weightsManifest"):
        load_tfjs_graph(path, outputs=["u"])
    with pytest.raises(TfjsGraphError, match="graph has a cycle through node"):
        load_tfjs_graph(path, outputs=["a"])
    with pytest.raises(TfjsGraphError, match="no outputs requested"):
        load_tfjs_graph(path, outputs=[])
    spec = json.loads(path.read_text())
    spec["weightsManifest"][0]["weights"][0]["dtype"] = "string"
    path.write_text(json.dumps(spec))
    with pytest.raises(TfjsGraphError, match="weight 'w': dtype 'string'"):
        load_tfjs_graph(path, outputs=["u"])
