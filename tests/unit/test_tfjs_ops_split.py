"""SplitV and SparseToDense (ops of converted ONNX graphs such as NanoDet) against numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memesearch.models.tfjs_graph import TfjsGraph, TfjsGraphError, TfjsNode
from memesearch.models.tfjs_ops import OPS, TfjsOpError

RNG = np.random.default_rng(1)


def t(a: np.ndarray | list | int | float, dtype: type = np.int32) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=dtype))


@pytest.mark.parametrize(
    ("sizes", "axis"),
    [([2, 3, 1], 1), ([4, -1], -1), ([-1], 0), ([0, 6], 1), ([1, -1, 2], 3)],
)
def test_split_v_matches_numpy(sizes: list[int], axis: int) -> None:
    x = RNG.normal(size=(2, 6, 3, 5)).astype(np.float32)
    got = OPS["SplitV"]({"num_split": len(sizes)}, [t(x, np.float32), t(sizes), t(axis)])
    dim = axis % x.ndim
    resolved = [x.shape[dim] - sum(s for s in sizes if s != -1) if s == -1 else s for s in sizes]
    expected = np.split(x, np.cumsum(resolved)[:-1], axis=dim)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g.numpy(), e)


def test_split_v_rejects_bad_sizes() -> None:
    x = t(np.zeros((2, 5)), np.float32)
    with pytest.raises(TfjsOpError, match="at most one -1"):
        OPS["SplitV"]({}, [x, t([-1, -1]), t(1)])
    with pytest.raises(TfjsOpError, match="do not add up"):
        OPS["SplitV"]({}, [x, t([2, 2]), t(1)])


def test_split_v_second_output_through_a_graph() -> None:
    """`name:1` reaches the second piece; a later node reads it as its input."""
    nodes = {
        "x": TfjsNode("x", "Placeholder", ()),
        "sizes": TfjsNode("sizes", "Const", ()),
        "axis": TfjsNode("axis", "Const", ()),
        "s": TfjsNode("s", "SplitV", (("x", 0), ("sizes", 0), ("axis", 0)), {"num_split": 2}),
        "sig": TfjsNode("sig", "Sigmoid", (("s", 1),)),
    }
    weights = {"sizes": np.array([3, -1], np.int32), "axis": np.array(-1, np.int32)}
    graph = TfjsGraph(nodes, weights, ["s:0", "sig"])
    x = RNG.normal(size=(1, 4, 7)).astype(np.float32)
    out = graph(torch.from_numpy(x))
    np.testing.assert_array_equal(out["s:0"].numpy(), x[..., :3])
    np.testing.assert_allclose(out["sig"].numpy(), 1 / (1 + np.exp(-x[..., 3:])), rtol=1e-6)


def np_sparse_to_dense(indices, shape, values, default) -> np.ndarray:
    out = np.full(shape, default, dtype=np.asarray(values).dtype)
    idx = np.asarray(indices).reshape(-1, len(shape))
    vals = np.broadcast_to(np.asarray(values).reshape(-1), (idx.shape[0],))
    for i, v in zip(idx, vals, strict=True):
        out[tuple(i)] = v
    return out


@pytest.mark.parametrize(
    ("indices", "shape", "values", "default"),
    [
        (np.zeros((0, 1), np.int32), [3], np.zeros(0, np.int32), 0),  # NanoDet: empty -> zeros
        ([[0, 1], [2, 3], [1, 0]], [3, 4], [5.0, -1.0, 2.5], 7.0),
        ([[0, 1], [2, 3]], [3, 4], 9.0, -1.0),  # one scalar value for every index
        ([1, 4], [6], [3, 8], 2),  # 1-D indices for a 1-D output
        (3, [5], 1.5, 0.0),  # a scalar index
    ],
)
def test_sparse_to_dense_matches_numpy(indices, shape, values, default) -> None:
    vdtype = np.float32 if isinstance(default, float) else np.int32
    ins = [t(indices), t(shape), t(values, vdtype), t(default, vdtype)]
    (got,) = OPS["SparseToDense"]({}, ins)
    expected = np_sparse_to_dense(indices, shape, np.asarray(values, vdtype), default)
    assert got.dtype == torch.from_numpy(expected).dtype
    np.testing.assert_array_equal(got.numpy(), expected)


def test_unsupported_op_still_named() -> None:
    nodes = {"x": TfjsNode("x", "Placeholder", ()), "u": TfjsNode("u", "Unique", (("x", 0),))}
    with pytest.raises(TfjsGraphError, match="op 'Unique' \\(node 'u'\\) is not supported"):
        TfjsGraph(nodes, {}, ["u"])
