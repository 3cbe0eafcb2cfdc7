"""A small reference of the original Chinese-CLIP model, written from its documented key layout.

It is not cn_clip's code (cn_clip needs torchvision): an OpenAI-style ViT image tower and a post-LN BERT
text tower whose parameter names are those of cn_clip's checkpoints (``visual.*``, ``bert.*``,
``text_projection``, ``logit_scale``), plus UniCLIP's training heads under their released names, and
cn_clip's text and image preprocessing (BERT WordPiece ids zero-padded to the context length; bicubic
squash-resize, CLIP mean/std). Tests save it in the original format and compare the converted model
with it.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Shapes:
    embed_dim: int = 64
    image_size: int = 32
    patch: int = 8
    vision_width: int = 128
    vision_layers: int = 2
    vision_heads: int = 2
    text_hidden: int = 128
    text_layers: int = 2
    text_heads: int = 2
    text_intermediate: int = 256
    vocab_size: int = 21128
    text_positions: int = 64


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """Pre-LN block: x + attn(ln_1(x)), then x + mlp(ln_2(x)); q, k, v stacked in ``attn.in_proj_*``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                c_fc=nn.Linear(width, 4 * width), gelu=QuickGELU(), c_proj=nn.Linear(4 * width, width)
            )
        )
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (L, B, W), sequence first
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.resblocks(x)
        return out


class VisualTransformer(nn.Module):
    def __init__(self, s: Shapes) -> None:
        super().__init__()
        width, grid = s.vision_width, s.image_size // s.patch
        self.conv1 = nn.Conv2d(3, width, kernel_size=s.patch, stride=s.patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) * width**-0.5)
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width) * width**-0.5)
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, s.vision_layers, s.vision_heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, s.embed_dim) * width**-0.5)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, embed)
        x = self.conv1(pixels).flatten(2).transpose(1, 2)  # (B, grid*grid, W)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        x = self.transformer(x.transpose(0, 1)).transpose(0, 1)  # (B, L, W)
        return self.ln_post(x[:, 0]) @ self.proj


class BertEmbeddings(nn.Module):
    def __init__(self, s: Shapes) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(s.vocab_size, s.text_hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(s.text_positions, s.text_hidden)
        self.token_type_embeddings = nn.Embedding(2, s.text_hidden)
        self.LayerNorm = nn.LayerNorm(s.text_hidden, eps=1e-12)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1]).expand_as(ids)
        summed = self.word_embeddings(ids) + self.position_embeddings(positions)
        return self.LayerNorm(summed + self.token_type_embeddings(torch.zeros_like(ids)))


class BertSelfAttention(nn.Module):
    def __init__(self, s: Shapes) -> None:
        super().__init__()
        self.heads = s.text_heads
        self.query = nn.Linear(s.text_hidden, s.text_hidden)
        self.key = nn.Linear(s.text_hidden, s.text_hidden)
        self.value = nn.Linear(s.text_hidden, s.text_hidden)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, heads, N, d / heads)
            return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5 + additive_mask
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)


class DenseNorm(nn.Module):
    """``dense`` then ``LayerNorm(x + residual)``: BERT's attention.output and output modules."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=1e-12)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.LayerNorm(self.dense(x) + residual)
        return out


class BertAttention(nn.Module):
    def __init__(self, s: Shapes) -> None:
        super().__init__()
        self.self = BertSelfAttention(s)
        self.output = DenseNorm(s.text_hidden, s.text_hidden)


class BertIntermediate(nn.Module):
    def __init__(self, s: Shapes) -> None:
        super().__init__()
        self.dense = nn.Linear(s.text_hidden, s.text_intermediate)


class BertLayer(nn.Module):
    def __init__(self, s: Shapes) -> None:
        super().__init__()
        self.attention = BertAttention(s)
        self.intermediate = BertIntermediate(s)
        self.output = DenseNorm(s.text_intermediate, s.text_hidden)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        attended = self.attention.output(self.attention.self(x, additive_mask), x)
        hidden = nn.functional.gelu(self.intermediate.dense(attended))  # erf GELU
        out: torch.Tensor = self.output(hidden, attended)
        return out


class BertEncoder(nn.Module):
    def __init__(self, s: Shapes) -> None:
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(s) for _ in range(s.text_layers)])


class BertPooler(nn.Module):
    def __init__(self, s: Shapes) -> None:
        super().__init__()
        self.dense = nn.Linear(s.text_hidden, s.text_hidden)


class BertModel(nn.Module):
    def __init__(self, s: Shapes, pooler: bool) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(s)
        self.encoder = BertEncoder(s)
        if pooler:  # older checkpoints carry an unused pooler
            self.pooler = BertPooler(s)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (B, N) -> (B, N, H)
        additive = (1.0 - mask[:, None, None, :].float()) * -10000.0
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            x = layer(x, additive)
        return x


class DecoderBlock(nn.Module):
    """UniCLIP's semantic-head block (only its parameter names matter here)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(width, heads)
        self.cross_attn = nn.MultiheadAttention(width, heads)
        self.ln_1, self.ln_2, self.ln_3, self.ln_4 = (nn.LayerNorm(width) for _ in range(4))
        self.mlp = nn.Sequential(
            OrderedDict(
                c_fc=nn.Linear(width, 4 * width), gelu=QuickGELU(), c_proj=nn.Linear(4 * width, width)
            )
        )


class CnClip(nn.Module):
    """The dual encoder; ``uniclip=True`` adds the training heads under the released checkpoint's names."""

    def __init__(self, s: Shapes = Shapes(), *, pooler: bool = False, uniclip: bool = False) -> None:
        super().__init__()
        self.visual = VisualTransformer(s)
        self.bert = BertModel(s, pooler)
        self.text_projection = nn.Parameter(torch.randn(s.text_hidden, s.embed_dim) * s.text_hidden**-0.5)
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))
        if uniclip:
            w = s.vision_width
            self.ocr_exist_decoder = Transformer(w, 1, s.vision_heads)
            self.ln_ocr_exist = nn.LayerNorm(w)
            self.proj_ocr_exist = nn.Parameter(torch.randn(w, 2))
            self.bert_embedding = BertEmbeddings(s)
            self.ocr_content_decoder = nn.Module()
            self.ocr_content_decoder.resblocks = nn.ModuleList([DecoderBlock(w, s.vision_heads)])
            self.ln_ocr_content = nn.LayerNorm(w)
            self.proj_ocr_content = nn.Parameter(torch.randn(w, 2))
            self.decoder_class_embedding = nn.Parameter(torch.randn(w) * w**-0.5)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.visual(pixels)
        return out

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(ids, ids.ne(0))  # [PAD] is id 0
        return hidden[:, 0] @ self.text_projection


def build(seed: int, shapes: Shapes = Shapes(), **kwargs: Any) -> CnClip:
    """A randomly initialised reference model (LayerNorms perturbed too, so a swapped norm shows)."""
    torch.manual_seed(seed)
    model = CnClip(shapes, **kwargs).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "ln" in name.lower() or "LayerNorm" in name or name.endswith("bias"):
                param.add_(torch.randn_like(param) * 0.1)
    return model


def save_original(model: CnClip, path: Path, *, half: bool = False, **extra: Any) -> None:
    """Save as cn_clip's training does: DDP ``module.`` keys inside {"epoch", "step", "state_dict", ...}."""
    state = {f"module.{k}": (v.half() if half else v).clone() for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "step": 1200, "state_dict": state, **extra}, path)


# -- cn_clip's preprocessing ------------------------------------------------------------------------


def pixels(image: Image.Image, size: int) -> torch.Tensor:
    """Bicubic squash-resize to size x size (no crop), 0..1, CLIP mean/std: (3, size, size)."""
    resized = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC), np.float32)
    normalised = (resized / 255.0 - np.asarray(CLIP_MEAN, np.float32)) / np.asarray(CLIP_STD, np.float32)
    return torch.from_numpy(normalised.transpose(2, 0, 1).copy())


class WordPiece:
    """BERT's tokenizer as cn_clip uses it: lower-case, strip accents, split punctuation and CJK
    characters, greedy longest-match WordPiece; [CLS] ... [SEP] zero-padded to the context length."""

    def __init__(self, vocab_file: Path) -> None:
        tokens = vocab_file.read_text(encoding="utf-8").split("\n")
        self.vocab = {t: i for i, t in enumerate(tokens) if t}

    def words(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        words: list[str] = []
        current = ""
        for char in text:
            cjk = 0x4E00 <= ord(char) <= 0x9FFF or 0x3400 <= ord(char) <= 0x4DBF
            punct = unicodedata.category(char).startswith("P") or (char.isascii() and not char.isalnum())
            if char.isspace() or cjk or punct:
                words += [current] if current else []
                current = ""
                if not char.isspace():
                    words.append(char)
            else:
                current += char
        return words + ([current] if current else [])

    def pieces(self, word: str) -> list[str]:
        out: list[str] = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = ("##" if start else "") + word[start:end]
                if piece in self.vocab:
                    out.append(piece)
                    start = end
                    break
            else:
                return ["[UNK]"]
        return out

    def __call__(self, texts: list[str], context: int = 52) -> torch.Tensor:
        rows = []
        for text in texts:
            pieces = [p for w in self.words(text) for p in self.pieces(w)][: context - 2]
            ids = [self.vocab["[CLS]"], *(self.vocab[p] for p in pieces), self.vocab["[SEP]"]]
            rows.append(ids + [0] * (context - len(ids)))
        return torch.tensor(rows)
