"""The retrieval-Task contract: :class:`RetrievalTask` and its validation metrics.

:class:`RetrievalTask` adds two things to :class:`~memesearch.train.task.Task`: a ``branch`` name
(the search branch it scores: ``"image"`` or ``"text"``) and :meth:`RetrievalTask.score_split`, the
``(Q, N)`` cosine matrix of a split's queries against its items (rows in ``split.queries`` order,
columns in ``split.items`` order; the item side never sees a query). ``memesearch evaluate --compare``
relies on exactly this. Validation
during training scores the dataset's validation split (``val_split``, never a test split) and reports
R@1/5/10, MdR, MnR and MAP (:func:`retrieval_metrics`).

The pieces beside the contract: :mod:`.retrieval_config` (the shared ``task_config`` keys),
:mod:`.samples` (training pairs and item batches of a dataset split), :mod:`.clip_towers` (CLIP towers
and tokenisation) and :mod:`.toy_dataset` (a small dataset for smoke runs).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from typing import Any

import numpy as np
import torch
from torch import nn

from memesearch.data.records import Dataset, Split
from memesearch.train.task import Task
from memesearch.train.tasks.retrieval_config import RetrievalConfig
from memesearch.train.tasks.samples import collate_samples, get_split, load_dataset

log = logging.getLogger(__name__)


VAL_METRICS: tuple[str, ...] = ("R@1", "R@5", "R@10", "MdR", "MnR", "MAP")


class RetrievalTask(Task):
    """A Task that retrieves a split's items for its queries (module docstring).

    Subclasses set ``branch`` and ``config`` (a :class:`RetrievalConfig`) and implement
    :meth:`score_split`; :meth:`validate` is done here.
    """

    branch: str = "image"
    config: RetrievalConfig

    @abstractmethod
    def score_split(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> np.ndarray:
        """(Q, N) scores (cosine, NOT multiplied by the temperature) of the split's queries vs its items,
        rows in ``split.queries`` order, columns in ``split.items`` order. The item side never sees queries.
        Items a branch cannot score get :data:`memesearch.models.fusion.NO_SCORE`."""

    def score_branches(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> dict[str, np.ndarray]:
        """Scores of every branch the model has (``{"image": .., "text": ..}``, the search branch names of
        :data:`memesearch.index.config.BRANCHES`); default: only ``branch``."""
        return {self.branch: self.score_split(model, dataset, split, device=device, batch_size=batch_size)}

    def dataset(self) -> Dataset:
        """The Task's dataset (read once per process)."""
        return load_dataset(self.config.dataset)

    def collate(self, samples: list[Any]) -> Any:
        return collate_samples(samples)

    @torch.no_grad()
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        dataset = self.dataset()
        split = get_split(dataset, self.config.val_split)
        scores = self.score_split(
            model, dataset, split.name, device=device, batch_size=self.config.eval_batch_size
        )
        return retrieval_metrics(scores, split)


def retrieval_metrics(scores: np.ndarray, split: Split) -> dict[str, float]:
    """:data:`VAL_METRICS` of a ``(Q, N)`` score matrix over the split's whole gallery."""
    from memesearch.eval.retrieval import evaluate_scores

    report = evaluate_scores(
        scores, split.qrels(), [q.id for q in split.queries], split.item_ids(), curve=False
    )
    return {k: float(report.metrics[k]) for k in VAL_METRICS if k in report.metrics}
