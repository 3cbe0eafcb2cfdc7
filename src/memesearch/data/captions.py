"""An item's captions by language, given apart from generated.

Datasets say which language each caption is in with ``meta["caption_langs"]`` (one code per caption, as
the emoji benchmark writes it); otherwise the script tells (:func:`memesearch.text.script_language`).
Captions a captioner wrote into a dataset copy are listed in ``meta["generated_captions"]``
(``memesearch caption --dataset``); they are never taken for references or training targets.

Example::

    >>> from memesearch.data.records import Item
    >>> item = Item(id="1f602", captions=["face with tears of joy", "笑哭了"])
    >>> item_captions(item, ("zh",))
    [('笑哭了', 'zh')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from memesearch.data.records import Item
from memesearch.text import script_language


def generated_captions(item: Item) -> list[str]:
    """The texts of the captions a captioner added to the item (``meta["generated_captions"]``)."""
    entries = item.meta.get("generated_captions", [])
    if not isinstance(entries, list):
        return []
    return [str(e["text"]) for e in entries if isinstance(e, Mapping) and e.get("text")]


def item_captions(item: Item, languages: Sequence[str]) -> list[tuple[str, str]]:
    """``(text, language)`` of the item's given (not generated) captions in ``languages``, in order."""
    generated = set(generated_captions(item))
    langs = item.meta.get("caption_langs")
    aligned = isinstance(langs, list) and len(langs) == len(item.captions)
    out = []
    for i, text in enumerate(item.captions):
        if not text or not text.strip() or text in generated:
            continue
        lang = str(langs[i]) if aligned else script_language(text)  # type: ignore[index]
        if lang in languages:
            out.append((text.strip(), lang))
    return out
