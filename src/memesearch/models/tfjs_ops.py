"""TensorFlow graph ops in torch, with TensorFlow's NHWC semantics.

Every op takes the node's decoded attributes and its input tensors and returns a tuple of outputs.
Activations stay NHWC (as TensorFlow sees them); convolutions permute to NCHW views, which torch runs
in its channels-last memory format without copying. `tfjs_graph.TfjsGraph` schedules these ops.

>>> import torch
>>> OPS["Relu6"]({}, [torch.tensor([-1.0, 3.0, 9.0])])
(tensor([0., 3., 6.]),)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

Attrs = dict[str, Any]
OpFn = Callable[[Attrs, list[torch.Tensor]], tuple[torch.Tensor, ...]]

TF_DTYPES = {
    "DT_FLOAT": torch.float32,
    "DT_INT32": torch.int32,
    "DT_BOOL": torch.bool,
    "DT_INT64": torch.int64,
}


class TfjsOpError(ValueError):
    """An op was given attributes or inputs this implementation does not handle."""


def _spatial(attrs: Attrs, key: str, default: int = 1) -> tuple[int, int]:
    """(H, W) entries of a 4-long NHWC/NCHW attribute list such as `strides` or `dilations`."""
    values = attrs.get(key) or [default] * 4
    if len(values) != 4:
        raise TfjsOpError(f"attr {key}={values!r}: expected 4 values")
    h, w = (1, 2) if attrs.get("data_format", "NHWC") == "NHWC" else (2, 3)
    return int(values[h]), int(values[w])


def _same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow SAME padding for one dim: the odd extra pixel goes after (bottom/right)."""
    eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _pads(attrs: Attrs, x_hw: tuple[int, int], k_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding for SAME / VALID / EXPLICIT."""
    padding = attrs.get("padding", "VALID")
    if padding == "VALID":
        return 0, 0, 0, 0
    if padding == "EXPLICIT":
        p = [int(v) for v in attrs.get("explicit_paddings") or []]
        if len(p) != 8:
            raise TfjsOpError(f"explicit_paddings={p!r}: expected 8 values")
        h, w = (1, 2) if attrs.get("data_format", "NHWC") == "NHWC" else (2, 3)
        return p[2 * h], p[2 * h + 1], p[2 * w], p[2 * w + 1]
    if padding != "SAME":
        raise TfjsOpError(f"padding={padding!r}: expected SAME, VALID or EXPLICIT")
    (sh, sw), (dh, dw) = _spatial(attrs, "strides"), _spatial(attrs, "dilations")
    top, bottom = _same_pads(x_hw[0], k_hw[0], sh, dh)
    left, right = _same_pads(x_hw[1], k_hw[1], sw, dw)
    return top, bottom, left, right


def _to_nchw(attrs: Attrs, x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2) if attrs.get("data_format", "NHWC") == "NHWC" else x


def _from_nchw(attrs: Attrs, y: torch.Tensor) -> torch.Tensor:
    return y.permute(0, 2, 3, 1) if attrs.get("data_format", "NHWC") == "NHWC" else y


def conv_weight(filt: torch.Tensor, depthwise: bool) -> torch.Tensor:
    """TF filter -> torch weight: conv HWIO -> OIHW; depthwise HW C M -> (C*M, 1, H, W)."""
    if depthwise:
        kh, kw, c, m = filt.shape
        return filt.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw).contiguous()
    return filt.permute(3, 2, 0, 1).contiguous()


def conv2d(
    attrs: Attrs,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    depthwise: bool,
) -> torch.Tensor:
    """Conv2D / DepthwiseConv2dNative on a TF-layout input with an already converted torch weight."""
    xc = _to_nchw(attrs, x)  # (B, C, H, W) view
    kh, kw = weight.shape[2], weight.shape[3]
    top, bottom, left, right = _pads(attrs, (xc.shape[2], xc.shape[3]), (kh, kw))
    if top == bottom and left == right:
        padding: tuple[int, int] = (top, left)
    else:
        xc = F.pad(xc, (left, right, top, bottom))
        padding = (0, 0)
    groups = xc.shape[1] if depthwise else 1
    if not depthwise and weight.shape[1] != xc.shape[1]:
        raise TfjsOpError(f"conv filter expects {weight.shape[1]} input channels, got {xc.shape[1]}")
    y = F.conv2d(
        xc,
        weight,
        bias,
        stride=_spatial(attrs, "strides"),
        padding=padding,
        dilation=_spatial(attrs, "dilations"),
        groups=groups,
    )
    return _from_nchw(attrs, y)


def _channel_param(attrs: Attrs, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A per-channel parameter shaped to broadcast against y (channels last for NHWC)."""
    if attrs.get("data_format", "NHWC") == "NHWC" or p.dim() != 1:
        return p
    return p.reshape(1, -1, 1, 1)


def fused_tail(attrs: Attrs, y: torch.Tensor, extra: Sequence[torch.Tensor]) -> torch.Tensor:
    """The activation of a `_Fused*` op's `fused_ops` (BiasAdd is applied by the conv itself)."""
    ops = list(attrs.get("fused_ops") or [])
    if not ops or ops[0] != "BiasAdd":
        raise TfjsOpError(f"fused_ops={ops!r}: only BiasAdd[, activation] is supported")
    if len(ops) == 1:
        return y
    if len(ops) > 2:
        raise TfjsOpError(f"fused_ops={ops!r}: at most one activation after BiasAdd is supported")
    act = ops[1]
    if act == "Prelu":
        if not extra:
            raise TfjsOpError("fused Prelu needs an alpha input")
        alpha = _channel_param(attrs, extra[0], y)
        return torch.where(y >= 0, y, alpha * y)
    if act == "LeakyRelu":
        return F.leaky_relu(y, float(attrs.get("leakyrelu_alpha", 0.2)))
    if act in UNARY:
        return UNARY[act](y)
    raise TfjsOpError(f"fused activation {act!r} is not supported")


def _fused_conv(depthwise: bool) -> OpFn:
    def run(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        x, w = ins[0], ins[1]
        weight = w if attrs.get("_torch_weight") else conv_weight(w, depthwise)
        bias = ins[2].reshape(-1) if len(ins) > 2 else None
        y = conv2d(attrs, x, weight, bias, depthwise)
        return (fused_tail(attrs, y, ins[3:]),)

    return run


def _plain_conv(depthwise: bool) -> OpFn:
    def run(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        x, w = ins[0], ins[1]
        weight = w if attrs.get("_torch_weight") else conv_weight(w, depthwise)
        return (conv2d(attrs, x, weight, None, depthwise),)

    return run


def max_pool(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """MaxPool; SAME padding pads with -inf so padded cells never win (as in TensorFlow)."""
    xc = _to_nchw(attrs, ins[0])
    kh, kw = _spatial(attrs, "ksize")
    top, bottom, left, right = _pads(attrs, (xc.shape[2], xc.shape[3]), (kh, kw))
    if top or bottom or left or right:
        xc = F.pad(xc, (left, right, top, bottom), value=-math.inf)
    y = F.max_pool2d(xc, (kh, kw), stride=_spatial(attrs, "strides"))
    return (_from_nchw(attrs, y),)


def avg_pool(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """AvgPool; with SAME padding TF averages over the real (unpadded) cells of each window only."""
    xc = _to_nchw(attrs, ins[0])
    kh, kw = _spatial(attrs, "ksize")
    stride = _spatial(attrs, "strides")
    pads = _pads(attrs, (xc.shape[2], xc.shape[3]), (kh, kw))
    if not any(pads):
        return (_from_nchw(attrs, F.avg_pool2d(xc, (kh, kw), stride=stride)),)
    top, bottom, left, right = pads
    ones = torch.ones_like(xc[:1, :1])
    total = F.avg_pool2d(F.pad(xc, (left, right, top, bottom)), (kh, kw), stride=stride)
    count = F.avg_pool2d(F.pad(ones, (left, right, top, bottom)), (kh, kw), stride=stride)
    return (_from_nchw(attrs, total / count),)


def pad(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Pad / PadV2: `paddings` is (rank, 2) [before, after]; PadV2's third input is the fill value."""
    x, paddings = ins[0], ins[1].reshape(-1, 2).tolist()
    flat = [int(v) for before_after in reversed(paddings) for v in before_after]
    value = float(ins[2]) if len(ins) > 2 else 0.0
    return (F.pad(x, flat, value=value),)


def matmul(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """MatMul / _FusedMatMul (BiasAdd[, activation]) with transpose_a / transpose_b."""
    a, b = ins[0], ins[1]
    a = a.transpose(-1, -2) if attrs.get("transpose_a") else a
    b = b.transpose(-1, -2) if attrs.get("transpose_b") else b
    y = a @ b
    if "fused_ops" not in attrs:
        return (y,)
    return (fused_tail(attrs, y + ins[2], ins[3:]),)


def _reduce(fn: Callable[[torch.Tensor, list[int], bool], torch.Tensor]) -> OpFn:
    def run(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        x, dims = ins[0], _axes(ins[1], ins[0].dim())
        return (fn(x, dims, bool(attrs.get("keep_dims"))),) if dims else (x,)

    return run


def squeeze(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    x = ins[0]
    dims = [int(d) % x.dim() for d in attrs.get("squeeze_dims") or []]
    keep = [n for i, n in enumerate(x.shape) if (i not in dims if dims else n != 1)]
    return (x.reshape(keep),)


def _source_index(
    out: int, size: int, align: bool, half: bool, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lower/upper source indices and lerp weights of one resized axis (TF ResizeBilinear rules)."""
    ratio = (size - 1) / (out - 1) if align and out > 1 else size / out
    dst = torch.arange(out, dtype=torch.float64, device=device)
    src = (dst + 0.5) * ratio - 0.5 if half else dst * ratio
    lo = torch.clamp(torch.floor(src), min=0)
    hi = torch.clamp(torch.ceil(src), max=size - 1)
    return lo.long(), hi.long(), (src - lo).float()


def resize_bilinear(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """ResizeBilinear on NHWC with `align_corners` / `half_pixel_centers` (legacy TF when both off)."""
    x, size = ins
    out_h, out_w = (int(v) for v in size.tolist())
    align, half = bool(attrs.get("align_corners")), bool(attrs.get("half_pixel_centers"))
    y0, y1, fy = _source_index(out_h, x.shape[1], align, half, x.device)
    x0, x1, fx = _source_index(out_w, x.shape[2], align, half, x.device)
    top, bottom = x[:, y0], x[:, y1]  # (B, out_h, W, C)
    fy4, fx4 = fy.view(1, -1, 1, 1), fx.view(1, 1, -1, 1)

    def cols(rows: torch.Tensor) -> torch.Tensor:
        left, right = rows[:, :, x0], rows[:, :, x1]
        return left + (right - left) * fx4

    t, b = cols(top), cols(bottom)
    return (t + (b - t) * fy4,)


def _axes(t: torch.Tensor, rank: int) -> list[int]:
    return [int(a) % rank if rank else 0 for a in t.reshape(-1).tolist()]


def concat(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    *xs, axis = ins
    return (torch.cat(xs, dim=_axes(axis, xs[0].dim())[0]),)


def strided_slice(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """StridedSlice with begin/end/ellipsis/new-axis/shrink masks (numpy slicing semantics)."""
    x, begin, end, strides = ins[0], ins[1].tolist(), ins[2].tolist(), ins[3].tolist()
    masks = {k: int(attrs.get(k, 0)) for k in _MASKS}
    index: list[Any] = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides, strict=True)):
        bit = 1 << i
        if masks["ellipsis_mask"] & bit:
            index.append(Ellipsis)
        elif masks["new_axis_mask"] & bit:
            index.append(None)
        elif masks["shrink_axis_mask"] & bit:
            index.append(int(b))
        else:
            index.append(
                slice(
                    None if masks["begin_mask"] & bit else int(b),
                    None if masks["end_mask"] & bit else int(e),
                    int(s),
                )
            )
    if any(isinstance(i, slice) and (i.step or 1) < 0 for i in index):
        picked = x.detach().cpu().numpy()[tuple(index)].copy()  # torch has no negative steps
        return (torch.from_numpy(picked).to(x.device),)
    return (x[tuple(index)],)


_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


def top_k(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """TopKV2 on the last axis; ties keep the lower index first (a stable descending sort)."""
    x, k = ins[0], int(ins[1])
    values, indices = torch.sort(x, dim=-1, descending=True, stable=True)
    return values[..., :k], indices[..., :k].to(torch.int32)


def gather(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    params, indices, axis_t = ins
    if int(attrs.get("batch_dims", 0)):
        raise TfjsOpError("GatherV2 with batch_dims != 0 is not supported")
    axis = _axes(axis_t, params.dim())[0]
    flat = torch.index_select(params, axis, indices.reshape(-1).long())
    shape = (*params.shape[:axis], *indices.shape, *params.shape[axis + 1 :])
    return (flat.reshape(shape),)


def split_v(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """SplitV: `value`, `size_splits` (one entry may be -1: the rest of the axis), `axis`."""
    x, sizes_t, axis_t = ins
    axis = _axes(axis_t, x.dim())[0]
    sizes = [int(v) for v in sizes_t.reshape(-1).tolist()]
    if sizes.count(-1) > 1:
        raise TfjsOpError(f"SplitV size_splits={sizes}: at most one -1 is allowed")
    known = sum(s for s in sizes if s != -1)
    sizes = [x.shape[axis] - known if s == -1 else s for s in sizes]
    if sum(sizes) != x.shape[axis] or min(sizes, default=0) < 0:
        raise TfjsOpError(f"SplitV size_splits={sizes} do not add up to axis {axis} of {tuple(x.shape)}")
    return tuple(torch.split(x, sizes, dim=axis))


def sparse_to_dense(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """SparseToDense: `sparse_indices` (N, rank), (N,) or a scalar; `output_shape`; `sparse_values`
    (N,) or a scalar; `default_value`. Later duplicates of an index win (TF does not define them)."""
    indices, shape_t, values, default = ins
    shape = [int(v) for v in shape_t.reshape(-1).tolist()]
    out = torch.full(shape, default.item(), dtype=values.dtype, device=values.device)
    if indices.numel() == 0:
        return (out,)
    rank = len(shape)
    idx = indices.long().reshape(-1, rank) if rank else indices.long().reshape(-1, 0)
    vals = values.reshape(-1).expand(idx.shape[0]) if values.numel() == 1 else values.reshape(-1)
    out[tuple(idx.t())] = vals
    return (out,)


def _prod(x: torch.Tensor, dims: list[int], keep: bool) -> torch.Tensor:
    for d in sorted(dims, reverse=True):
        x = x.prod(dim=d, keepdim=keep)
    return x


def _floor_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.is_floating_point() or b.is_floating_point():
        return torch.floor(a / b)
    return torch.div(a, b, rounding_mode="floor")


def _cast(attrs: Attrs, ins: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    dst = attrs.get("DstT", "DT_FLOAT")
    if dst not in TF_DTYPES:
        raise TfjsOpError(f"Cast to {dst} is not supported")
    return (ins[0].to(TF_DTYPES[dst]),)


UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "Identity": lambda x: x,
    "Relu": torch.relu,
    "Relu6": lambda x: torch.clamp(x, 0.0, 6.0),
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "Elu": F.elu,
    "Exp": torch.exp,
    "Log": torch.log,
    "Neg": torch.neg,
    "Abs": torch.abs,
    "Floor": torch.floor,
    "Sqrt": torch.sqrt,
    "Rsqrt": torch.rsqrt,
    "Square": torch.square,
    "Softmax": lambda x: torch.softmax(x, dim=-1),
}

BINARY: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "Add": torch.add,
    "AddV2": torch.add,
    "BiasAdd": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "RealDiv": torch.div,
    "Maximum": torch.maximum,
    "Minimum": torch.minimum,
    "FloorDiv": _floor_div,
    "FloorMod": torch.remainder,  # sign of the divisor, like TF's FloorMod
    "Equal": torch.eq,
    "Greater": torch.gt,
    "Less": torch.lt,
    "SquaredDifference": lambda a, b: torch.square(a - b),
}


def _unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> OpFn:
    return lambda attrs, ins: (fn(ins[0]),)


def _binary(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> OpFn:
    return lambda attrs, ins: (fn(ins[0], ins[1]),)


OPS: dict[str, OpFn] = {
    **{name: _unary(fn) for name, fn in UNARY.items()},
    **{name: _binary(fn) for name, fn in BINARY.items()},
    "LeakyRelu": lambda attrs, ins: (F.leaky_relu(ins[0], float(attrs.get("alpha", 0.2))),),
    "Prelu": lambda attrs, ins: (torch.where(ins[0] >= 0, ins[0], ins[1] * ins[0]),),
    "Conv2D": _plain_conv(depthwise=False),
    "DepthwiseConv2dNative": _plain_conv(depthwise=True),
    "_FusedConv2D": _fused_conv(depthwise=False),
    "FusedDepthwiseConv2dNative": _fused_conv(depthwise=True),
    "MaxPool": max_pool,
    "AvgPool": avg_pool,
    "Pad": pad,
    "PadV2": pad,
    "MatMul": matmul,
    "_FusedMatMul": matmul,
    "AddN": lambda attrs, ins: (torch.stack(ins).sum(0),),
    "Transpose": lambda attrs, ins: (ins[0].permute([int(v) for v in ins[1].tolist()]),),
    "Squeeze": squeeze,
    "Pack": lambda attrs, ins: (torch.stack(ins, dim=int(attrs.get("axis", 0))),),
    "Shape": lambda attrs, ins: (torch.tensor(ins[0].shape, dtype=torch.int32, device=ins[0].device),),
    "Sum": _reduce(lambda x, d, k: x.sum(dim=d, keepdim=k)),
    "Max": _reduce(lambda x, d, k: x.amax(dim=d, keepdim=k)),
    "Min": _reduce(lambda x, d, k: x.amin(dim=d, keepdim=k)),
    "Prod": _reduce(_prod),
    "ResizeBilinear": resize_bilinear,
    "Mean": _reduce(lambda x, d, k: x.mean(dim=d, keepdim=k)),
    "ConcatV2": concat,
    "Reshape": lambda attrs, ins: (ins[0].reshape([int(v) for v in ins[1].tolist()]),),
    "ExpandDims": lambda attrs, ins: (ins[0].unsqueeze(int(ins[1])),),
    "Cast": _cast,
    "StridedSlice": strided_slice,
    "TopKV2": top_k,
    "GatherV2": gather,
    "SplitV": split_v,
    "SparseToDense": sparse_to_dense,
}
"""Op name -> implementation: `fn(attrs, inputs) -> outputs`."""
