"""The CLIP-prefix captioner (ClipCap): images and videos -> captions.

What lives where:

- :mod:`.config` — :class:`CaptionerConfig` (encoder name, :class:`MapperConfig`, :class:`DecoderConfig`,
  languages);
- :mod:`.mapping` — the MLP and transformer mapping networks (image embedding -> decoder prefix);
- :mod:`.decoder` — the causal LM decoder (folder or hub id, or a small GPT-2 from config) and the
  byte-level BPE tokenizer trained on captions;
- :mod:`.model` — :class:`ClipCapModel`, the network and its caption loss;
- :mod:`.decoding` — greedy, beam search and sampling (:class:`DecodeConfig`, :class:`Caption`);
- :mod:`.captioner` — :class:`Captioner` (encoder + network + tokenizer), saved and loaded by name
  (``starter-caption`` ships in the package);
- :mod:`.subtitles` — video frames -> timed captions -> SubRip and JSON.

Training is the ``clipcap`` Task (:mod:`memesearch.train.tasks.clipcap`); the command line is
``memesearch caption``. Importing this package is light (no torch); the names below load on first use.

Example::

    >>> from memesearch.caption import load_captioner, DecodeConfig
    >>> captioner = load_captioner("starter-caption")                                # doctest: +SKIP
    >>> captioner.caption(["grin.png"], DecodeConfig(num_beams=4, lang="zh"))[0][0].text  # doctest: +SKIP
    '嘿嘿'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.utils.lazy import lazy_api

_API: dict[str, str] = {
    "CaptionerConfig": "memesearch.caption.config",
    "DecoderConfig": "memesearch.caption.config",
    "MapperConfig": "memesearch.caption.config",
    "ClipCapModel": "memesearch.caption.model",
    "Caption": "memesearch.caption.decoding",
    "DecodeConfig": "memesearch.caption.decoding",
    "generate_captions": "memesearch.caption.decoding",
    "Captioner": "memesearch.caption.captioner",
    "load_captioner": "memesearch.caption.captioner",
    "new_captioner": "memesearch.caption.captioner",
    "BUILTIN": "memesearch.caption.captioner",
}

__all__ = [
    "BUILTIN",
    "Caption",
    "Captioner",
    "CaptionerConfig",
    "ClipCapModel",
    "DecodeConfig",
    "DecoderConfig",
    "MapperConfig",
    "generate_captions",
    "load_captioner",
    "new_captioner",
]

__getattr__, __dir__ = lazy_api(__name__, _API, globals())

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.caption.captioner import BUILTIN, Captioner, load_captioner, new_captioner
    from memesearch.caption.config import CaptionerConfig, DecoderConfig, MapperConfig
    from memesearch.caption.decoding import Caption, DecodeConfig, generate_captions
    from memesearch.caption.model import ClipCapModel
