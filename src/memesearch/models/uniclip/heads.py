"""UniCLIP's training-only OCR heads: presence (``IC``) and semantic matching (``ITM``).

Both read the image tower's **full token sequence before its final norm** (``(B, 1 + P, W)``: the
ViT's last block output, CLS first; transformers' ``vision_model(...).last_hidden_state``), with
gradients flowing into the tower. Neither is used at inference: the exported model is the plain dual
encoder (research/B §1.2, §1.3, §1.5).

* :class:`PresenceHead` — 3 pre-LN ViT blocks (self-attention + QuickGELU MLP) over the image tokens,
  LayerNorm of the CLS row, a 2-way projection: does the cover carry overlaid text?
* :class:`SemanticHead` — a decoder of 3 blocks over ``[class token; candidate OCR tokens]``: a
  **separate** BERT-style embedding of the candidate string (word + position + token type, LayerNorm,
  dropout; not tied to the text tower), self-attention **with a key-padding mask** (the original had
  none, so its pads took part), cross-attention to the image tokens, MLP; LayerNorm of the class row and a
  2-way projection: is the candidate this cover's text?

Deviations from the released code, on purpose: the candidate's padding is masked; the cross-attention
uses standard norms (query from the decoder's norm, keys and values from one norm of the image tokens;
the original normed keys with the query's norm); the 2-way projections start at std ``width**-0.5``
(the original's std 1 gives initial logits of ~28); a linear adapter maps the candidate embedding to
the vision width when the text width differs (the original assumed both 768).

Example::

    >>> head = SemanticHead(SemanticHeadConfig(vision_width=32, text_width=16, vocab_size=100))
    >>> head(torch.randn(2, 5, 32), torch.randint(1, 100, (2, 20)), torch.ones(2, 20)).shape
    torch.Size([2, 2])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


def default_heads(width: int) -> int:
    """Attention heads of a head block: 64 wide as in cn_clip (``width / 64``), at least 1, dividing
    ``width``."""
    heads = max(1, width // 64)
    while width % heads:
        heads -= 1
    return heads


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``: the activation of OpenAI-style ViTs (and of the original heads)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


def _mlp(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, 4 * width), QuickGELU(), nn.Linear(4 * width, width))


class ViTBlock(nn.Module):
    """A pre-LN transformer block: ``x + SelfAttn(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = _mlp(width)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """``x`` (B, T, W); ``key_padding_mask`` (B, T), True where a position is padding."""
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class DecoderBlock(nn.Module):
    """Self-attention over the candidate (padding masked), cross-attention to the image tokens, MLP."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_self = nn.LayerNorm(width)
        self.self_attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_query = nn.LayerNorm(width)
        self.ln_memory = nn.LayerNorm(width)
        self.cross_attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_mlp = nn.LayerNorm(width)
        self.mlp = _mlp(width)

    def forward(self, t: Tensor, memory: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """``t`` (B, T, W) decoder tokens, ``memory`` (B, N, W) image tokens, mask (B, T) True = padding."""
        h = self.ln_self(t)
        t = t + self.self_attn(h, h, h, key_padding_mask=key_padding_mask, need_weights=False)[0]
        q, m = self.ln_query(t), self.ln_memory(memory)
        t = t + self.cross_attn(q, m, m, need_weights=False)[0]
        return t + self.mlp(self.ln_mlp(t))


class _TwoWay(nn.Module):
    """LayerNorm of the first row, then a ``W x 2`` projection (no bias, as the original's parameter)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, 2) * width**-0.5)

    def forward(self, x: Tensor) -> Tensor:
        return self.ln(x[:, 0]) @ self.proj  # (B, 2)


@dataclass(frozen=True)
class PresenceHeadConfig:
    """``width``: the vision tower's width; ``layers`` ViT blocks of ``heads`` heads (None: width / 64)."""

    width: int
    layers: int = 3
    heads: int | None = None


class PresenceHead(nn.Module):
    """Image tokens (B, N, W) -> (B, 2) logits of "the cover carries text" (module docstring)."""

    def __init__(self, config: PresenceHeadConfig) -> None:
        super().__init__()
        self.config = config
        heads = config.heads or default_heads(config.width)
        self.blocks = nn.ModuleList(ViTBlock(config.width, heads) for _ in range(config.layers))
        self.out = _TwoWay(config.width)

    def forward(self, tokens: Tensor) -> Tensor:
        x = tokens
        for block in self.blocks:
            x = block(x)
        return self.out(x)


@dataclass(frozen=True)
class SemanticHeadConfig:
    """The semantic head's shapes.

    Attributes:
        vision_width: width of the image tokens (and of the decoder).
        text_width: width of the candidate's BERT-style embedding (the text tower's hidden size); a
            linear adapter maps it to ``vision_width`` when they differ.
        vocab_size: the tokenizer's vocabulary (the embedding's rows).
        pad_token_id: the padding id (its embedding row is zero, as BERT's ``padding_idx``).
        context: candidate length in tokens (20 in the original).
        layers, heads: decoder blocks and their heads (None: ``vision_width / 64``).
        dropout: of the embedding (BERT's 0.1).
    """

    vision_width: int
    text_width: int
    vocab_size: int
    pad_token_id: int = 0
    context: int = 20
    layers: int = 3
    heads: int | None = None
    dropout: float = 0.1


class CandidateEmbedding(nn.Module):
    """BERT-style embedding of token ids: word + position + token type (0), LayerNorm, dropout."""

    def __init__(self, vocab: int, width: int, positions: int, pad_token_id: int, dropout: float) -> None:
        super().__init__()
        self.word = nn.Embedding(vocab, width, padding_idx=pad_token_id)
        self.position = nn.Embedding(positions, width)
        self.token_type = nn.Embedding(2, width)
        self.ln = nn.LayerNorm(width, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        for emb in (self.word, self.position, self.token_type):  # BERT's initializer_range
            nn.init.normal_(emb.weight, std=0.02)
        with torch.no_grad():
            self.word.weight[pad_token_id].zero_()

    def forward(self, ids: Tensor) -> Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(positions)[None] + self.token_type.weight[0]
        return self.dropout(self.ln(x))  # (B, T, W)


class SemanticHead(nn.Module):
    """Image tokens (B, N, Wv) + candidate ids/mask (B, T) -> (B, 2) logits of "this is the cover's text"."""

    def __init__(self, config: SemanticHeadConfig) -> None:
        super().__init__()
        self.config = config
        w = config.vision_width
        heads = config.heads or default_heads(w)
        self.embedding = CandidateEmbedding(
            config.vocab_size, config.text_width, config.context, config.pad_token_id, config.dropout
        )
        self.adapter: nn.Module = nn.Linear(config.text_width, w) if config.text_width != w else nn.Identity()
        self.class_embedding = nn.Parameter(torch.randn(w) * w**-0.5)
        self.blocks = nn.ModuleList(DecoderBlock(w, heads) for _ in range(config.layers))
        self.out = _TwoWay(w)

    def forward(self, tokens: Tensor, ids: Tensor, mask: Tensor) -> Tensor:
        """``tokens`` (B, N, Wv) image tokens; ``ids`` (B, T) candidate ids; ``mask`` (B, T), 1 = real."""
        if ids.shape[1] > self.config.context:
            raise ValueError(
                f"candidate ids have {ids.shape[1]} tokens, more than the head's {self.config.context}"
            )
        b = ids.shape[0]
        text = self.adapter(self.embedding(ids))  # (B, T, Wv)
        t = torch.cat([self.class_embedding.to(text.dtype).expand(b, 1, -1), text], dim=1)  # (B, 1 + T, Wv)
        real = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=ids.device), mask.bool()], dim=1)
        padding = ~real  # the class token is never padding, so no row is fully masked
        for block in self.blocks:
            t = block(t, tokens.to(t.dtype), padding)
        return self.out(t)
