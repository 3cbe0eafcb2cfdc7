"""The CLIP-towers Task base shared by the ``clip4meme`` and ``ief`` Tasks: towers loaded once, a model
built on them.

:class:`ClipTowersTask` loads the towers of ``task_config.model_name`` once
(:func:`memesearch.models.clip_towers.load_clip`), caps ``task_config.max_words`` at the text tower's
positions, tokenises texts to ``(B, max_words)`` and builds the Task's model on them: the first model
built takes the loaded weights, every later one a fresh copy (two models never share tensors). A
subclass says only how its model is made from the towers (:meth:`ClipTowersTask.model_from_parts`).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from memesearch.models.clip_towers import ClipParts, TextTokenizer, load_clip
from memesearch.train.tasks.base import RetrievalTask


class ClipTowersTask(RetrievalTask):
    """A retrieval Task whose model is built on CLIP towers (``config.model_name``, ``config.max_words``)."""

    config: Any  # a RetrievalConfig (model_name, max_words) of the subclass's own type

    def __init__(self, config: Any) -> None:
        self.config = config
        self._parts: ClipParts | None = None
        self._parts_used = False
        self._max_words: int | None = None

    def parts(self) -> ClipParts:
        """The CLIP towers of ``model_name`` (loaded once; the first model built takes these weights)."""
        if self._parts is None:
            self._parts = load_clip(self.config.model_name)
        return self._parts

    @property
    def tokenize(self) -> TextTokenizer:
        return TextTokenizer(self.parts().tokenizer, self.max_words)

    @property
    def max_words(self) -> int:
        """``task_config.max_words`` capped at the text tower's position limit."""
        if self._max_words is None:
            self._max_words = self.parts().max_words(self.config.max_words)
        return self._max_words

    def build_model(self) -> nn.Module:
        parts = self.parts()
        if self._parts_used:  # a second model must not share the first one's tensors
            parts = load_clip(self.config.model_name)
        self._parts_used = True
        return self.model_from_parts(parts)

    def model_from_parts(self, parts: ClipParts) -> nn.Module:
        """The Task's model on ``parts`` (fresh heads; the towers' weights as loaded)."""
        raise NotImplementedError
