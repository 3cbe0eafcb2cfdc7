"""A synthetic data source and a tiny two-tower Task, so the whole training stack runs in seconds on CPU.

The data imitate query -> meme retrieval: a hidden "world" maps a query's tokens to a latent meaning
(mean of per-token vectors) and renders each item as a noisy linear image of its query's meaning.
Several items share each query (``items_per_group``), so batches have multiple positives. The
validation split draws new queries from the same world, so retrieval there measures generalisation.

The model has the parts the optimizer must treat differently: a "pretrained" query embedding
(trained at ``lr * coef_lr``), a frozen item stem, biases and a LayerNorm (no weight decay), dropout
(for RNG replay) and a learnable, clamped logit scale.

Example::

    >>> task, _ = create_task("synthetic", {"num_groups": 8})   # doctest: +SKIP
    >>> model = task.build_model()                              # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from memesearch.models.logit_scale import LogitScale
from memesearch.train.losses import contrastive_loss
from memesearch.train.task import LossOutput, ParamRole, Task, TaskSpec


@dataclass(frozen=True)
class SyntheticConfig:
    """Settings of the synthetic Task (``task_config`` keys).

    ``frozen``: name prefixes of parameters to freeze (e.g. ``["item_stem.", "item_head."]`` freezes the
    item tower, as a stage-2 run freezes the stage-1 branch); ``pretrained``: prefixes trained at
    ``lr * coef_lr``.
    """

    num_groups: int = 48
    items_per_group: int = 4
    val_groups: int = 16
    vocab_size: int = 16
    seq_len: int = 6
    item_dim: int = 16
    latent_dim: int = 8
    noise: float = 0.1
    dim: int = 32
    hidden: int = 32
    dropout: float = 0.1
    frozen: tuple[str, ...] = ("item_stem.",)
    pretrained: tuple[str, ...] = ("query_embedding.",)
    data_seed: int = 0

    def __post_init__(self) -> None:
        from memesearch.errors import ConfigError

        for name in (
            "num_groups",
            "items_per_group",
            "val_groups",
            "vocab_size",
            "seq_len",
            "item_dim",
            "dim",
            "hidden",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"task_config.{name}: got {getattr(self, name)!r}, expected an integer >= 1"
                )
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"task_config.dropout: got {self.dropout!r}, expected a fraction in [0, 1)")


class SyntheticPairs(Dataset[dict[str, Tensor]]):
    """(query tokens, item vector, group id) samples; ``tokens`` are 0-padded to ``seq_len``."""

    def __init__(self, tokens: Tensor, items: Tensor, groups: Tensor) -> None:
        self.tokens, self.items, self.groups = tokens, items, groups  # (N, T) int64, (N, D), (N,)

    def __len__(self) -> int:
        return int(self.items.shape[0])

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"tokens": self.tokens[index], "item": self.items[index], "group": self.groups[index]}


def make_split(config: SyntheticConfig, split: str) -> SyntheticPairs:
    """Generate the ``train`` or ``val`` split deterministically from ``config.data_seed``.

    Uses private generators only: building data never moves the global RNG (which drives dropout).
    """
    world = torch.Generator().manual_seed(config.data_seed)
    token_vectors = torch.randn(config.vocab_size, config.latent_dim, generator=world)
    render = torch.randn(config.latent_dim, config.item_dim, generator=world) / config.latent_dim**0.5
    gen = torch.Generator().manual_seed(config.data_seed * 1000 + (1 if split == "train" else 2))
    n_groups = config.num_groups if split == "train" else config.val_groups
    tokens = torch.zeros(n_groups, config.seq_len, dtype=torch.int64)
    latents = torch.empty(n_groups, config.latent_dim)
    for g in range(n_groups):
        length = int(torch.randint(1, config.seq_len + 1, (1,), generator=gen))
        ids = torch.randint(1, config.vocab_size, (length,), generator=gen)
        tokens[g, :length] = ids
        latents[g] = token_vectors[ids].mean(dim=0)
    k = config.items_per_group
    group_of = torch.arange(n_groups).repeat_interleave(k)  # (N,)
    items = latents[group_of] @ render + config.noise * torch.randn(
        n_groups * k, config.item_dim, generator=gen
    )
    return SyntheticPairs(tokens[group_of], items, group_of)


class TinyTwoTower(nn.Module):
    """Query tower (token embedding, masked mean, MLP) and item tower (stem, LayerNorm, MLP)."""

    def __init__(self, config: SyntheticConfig) -> None:
        super().__init__()
        h = config.hidden
        self.query_embedding = nn.Embedding(config.vocab_size, h, padding_idx=0)
        self.query_head = nn.Sequential(
            nn.Linear(h, h), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(h, config.dim)
        )
        self.item_stem = nn.Linear(config.item_dim, h)
        self.item_head = nn.Sequential(
            nn.LayerNorm(h), nn.Linear(h, h), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(h, config.dim)
        )
        self.logit_scale = LogitScale(init=10.0)

    def encode_query(self, tokens: Tensor) -> Tensor:
        mask = (tokens != 0).unsqueeze(-1).float()  # (B, T, 1)
        pooled = (self.query_embedding(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, H)
        return F.normalize(self.query_head(pooled), dim=-1)  # (B, D)

    def encode_item(self, items: Tensor) -> Tensor:
        return F.normalize(self.item_head(self.item_stem(items)), dim=-1)  # (B, D)


class SyntheticTask(Task):
    """Multi-positive contrastive training of :class:`TinyTwoTower` on :func:`make_split` data."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config

    def build_model(self) -> nn.Module:
        return TinyTwoTower(self.config)

    def param_role(self, name: str, param: nn.Parameter) -> ParamRole:
        if name.startswith(self.config.frozen):
            return ParamRole.FROZEN
        if name.startswith(self.config.pretrained):
            return ParamRole.PRETRAINED
        return ParamRole.NEW

    def train_dataset(self) -> SyntheticPairs:
        return make_split(self.config, "train")

    def embed_batch(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        assert isinstance(model, TinyTwoTower)
        return {
            "query": model.encode_query(batch["tokens"]),
            "item": model.encode_item(batch["item"]),
            "group": batch["group"],
        }

    def loss(self, model: nn.Module, features: Mapping[str, Tensor]) -> LossOutput:
        assert isinstance(model, TinyTwoTower)
        scale = model.logit_scale()
        loss = contrastive_loss(features["query"], features["item"], features["group"], scale)
        return LossOutput(loss, {"logit_scale": scale.detach()})

    @torch.no_grad()
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        assert isinstance(model, TinyTwoTower)
        val = make_split(self.config, "val")
        k = self.config.items_per_group
        queries = val.tokens[::k].to(device)  # one query per group, (G, T)
        query_groups = val.groups[::k].to(device)
        q = model.encode_query(queries)  # (G, D)
        v = model.encode_item(val.items.to(device))  # (M, D)
        item_groups = val.groups.to(device)
        loss = contrastive_loss(q, v, query_groups, model.logit_scale(), item_groups=item_groups)
        scores = q @ v.t()  # (G, M)
        relevant = query_groups[:, None] == item_groups[None, :]
        best_relevant = torch.where(relevant, scores, torch.full_like(scores, -torch.inf)).amax(dim=1)
        # pessimistic ties: every irrelevant item scoring >= the best relevant one ranks above it
        rank = 1 + ((scores >= best_relevant[:, None]) & ~relevant).sum(dim=1)  # (G,)
        out = {"loss": float(loss)}
        for cutoff in (1, 5, 10):
            out[f"r{cutoff}"] = float((rank <= cutoff).float().mean())
        out["mdr"] = float(rank.float().median())
        return out


TASK_SPEC = TaskSpec(
    name="synthetic",
    factory=SyntheticTask,
    config_cls=SyntheticConfig,
    description="tiny two-tower model on synthetic query/item data (tests and smoke runs)",
)
