"""``task_config`` keys shared by the retrieval Tasks: :class:`RetrievalConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from memesearch.errors import ConfigError


@dataclass(frozen=True)
class RetrievalConfig:
    """``task_config`` keys shared by the retrieval Tasks.

    Attributes:
        dataset: a dataset directory or file readable by :func:`memesearch.data.formats.read_dataset`
            (required; ``--set task_config.dataset=DIR``).
        model_name: the CLIP towers, an encoder name: ``clip:<dir>`` (CLIP or Chinese-CLIP in
            transformers layout) or ``tiny-clip:<seed>`` for tests (required).
        train_split: split whose (query, relevant item) pairs are the training samples.
        val_split: split used for validation and model selection; a test split is refused.
        max_words: text length in tokens (queries, captions, emotions), padded and truncated to it.
        oracle_captions: use captions marked ``meta.caption_kind == "oracle"`` (the emoji benchmark's
            ground-truth names); False drops them, as :meth:`memesearch.data.records.Item.texts` does.
        min_grade: lowest qrels grade that counts as relevant.
        eval_batch_size: batch size of :meth:`~memesearch.train.tasks.base.RetrievalTask.score_split`
            during validation.
    """

    dataset: str = ""
    model_name: str = ""
    train_split: str = "train"
    val_split: str = "val"
    max_words: int = 32
    oracle_captions: bool = True
    min_grade: int = 1
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ConfigError(
                "task_config.dataset is not set; pass the dataset directory, e.g. "
                "--set task_config.dataset=data/emoji"
            )
        if not self.model_name:
            raise ConfigError(
                "task_config.model_name is not set; pass the CLIP towers as an encoder name, e.g. "
                "--set task_config.model_name=clip:/models/clip-vit-base-patch32 "
                "(or tiny-clip:0 for a smoke run)"
            )
        if self.val_split.lower().startswith("test"):
            raise ConfigError(
                f"task_config.val_split={self.val_split!r}: model selection must not use a test split; "
                "use a validation split (e.g. val)"
            )
        if self.max_words < 3:
            raise ConfigError(f"task_config.max_words: got {self.max_words}, expected an integer >= 3")
        if self.min_grade < 1:
            raise ConfigError(f"task_config.min_grade: got {self.min_grade}, expected an integer >= 1")
        if self.eval_batch_size < 1:
            raise ConfigError(f"task_config.eval_batch_size: got {self.eval_batch_size}, expected >= 1")
