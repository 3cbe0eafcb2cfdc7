"""The QI item head: emotion gate, caption co-attention with a correct padding mask."""

from __future__ import annotations

import pytest
import torch

from memesearch.models.qi import QIConfig, QIHead


def _inputs(b: int = 3, t: int = 5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "image": torch.randn(b, 32, generator=g),
        "emotion": torch.randn(b, 16, generator=g),
        "emotion_mask": torch.tensor([True, False, True]),
        "caption": torch.randn(b, t, 24, generator=g),
        "caption_mask": torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool),
    }


@pytest.fixture()
def head() -> QIHead:
    torch.manual_seed(0)
    return QIHead(QIConfig(dim=32, emotion_dim=16, caption_dim=24, heads=8)).eval()


def test_padding_tokens_get_no_attention_and_do_not_change_the_embedding(head: QIHead) -> None:
    x = _inputs()
    out = head(**x)
    assert torch.all(out.attention[~x["caption_mask"]] == 0)
    assert torch.allclose(out.attention[0].sum(), torch.tensor(1.0))
    changed = dict(x, caption=x["caption"].clone())
    changed["caption"][0, 3:] = 1e3  # padded positions of item 0
    changed["caption"][2] = -7.0  # item 2 has no real token at all
    assert torch.equal(head(**changed).embedding, out.embedding)


def test_real_tokens_do_change_the_embedding(head: QIHead) -> None:
    x = _inputs()
    changed = dict(x, caption=x["caption"].clone())
    changed["caption"][0, 0] += 5.0
    emb, emb2 = head(**x).embedding, head(**changed).embedding
    assert not torch.allclose(emb[0], emb2[0])
    assert torch.equal(emb[1:], emb2[1:])  # items are encoded independently of each other


def test_emotion_gate_starts_at_init_and_masked_items_ignore_emotions(head: QIHead) -> None:
    assert head.gate is not None and head.gate.item() == pytest.approx(0.1)
    x = _inputs()
    changed = dict(x, emotion=x["emotion"].clone())
    changed["emotion"][1] = 123.0  # item 1 has emotion_mask False
    assert torch.equal(head(**x).embedding[1], head(**changed).embedding[1])
    changed["emotion"][0] = -3.0
    assert not torch.allclose(head(**x).embedding[0], head(**changed).embedding[0])


def test_outputs_are_unit_length_and_optional_parts_can_be_off() -> None:
    x = _inputs()
    plain = QIHead(QIConfig(dim=32)).eval()
    out = plain(x["image"])
    assert torch.allclose(out.embedding.norm(dim=-1), torch.ones(3))
    assert torch.allclose(out.embedding, torch.nn.functional.normalize(x["image"], dim=-1))
    assert out.attention is None
    with pytest.raises(ValueError, match="multiple of heads"):
        QIConfig(dim=30, heads=8)
