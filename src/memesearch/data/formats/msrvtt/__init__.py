"""The MSRVTT-style meme format of CLIP4Meme / IEF (SPEC §4.2, research/A §1.2, §2.2), read and written.

Layout of a dataset folder (the train and the test layout may be present together)::

    train_ids.csv         header `video_id` (or `image_id`), then one image id per line: the train split
    train_data.json       {"sentences": [{"video_id": id, "caption": query text}, ...],
                           "titles": {id: [description, ...]}}
    train_emotion.json    [{"video_id": id, "emotion": [{"person_1": "开心"}, {"person_2": "幽默"}]}, ...]
    test_data.json        {id: {"gt": query text, "titles": [description, ...]}, ...}
    test_emotion.json     as train_emotion.json
    images/<id>.jpg       the image of each id; an id that already contains a "." is the file name itself

How it maps onto records:

- one item per image id, ``captions`` = its titles, ``emotions`` = the emotion words of all persons,
  flattened in order;
- one query per **unique** query text (``caption`` of a sentence, or ``gt``); every image with that text
  is a positive with grade 1. *All* sentences of an image are kept (the seed code kept only the last);
  query ids are ``q1, q2, ...`` in order of first appearance;
- extension: ``gt`` may be a list of texts for an image posted under several queries (``[]`` for an
  image with none);
- ``video_id`` or ``image_id`` are accepted wherever an id is named; numeric ids become strings;
- when ``train_ids.csv`` exists it defines the train split (as in MSRVTT, the JSON may hold more ids);
  without it the train split is every id in ``titles`` and ``sentences``;
- images are looked up in ``images/`` (or the folder itself, or ``images=``), also in the IEF frame
  layout ``<id>/img_00001.jpg``; the media type comes from the file content.

Writing (:func:`write`) maps the split ``train`` to the train layout and ``test`` to the test layout,
copies each item's file into ``images/``, canonicalises ids so that reading back finds everything, and
warns about what the format cannot hold; the rules are in :mod:`.writer`.

Modules: :mod:`.layout` (file names, e.g. ``ALL_FILES``, ``ID_KEYS``), :mod:`.reader` (:func:`read`),
:mod:`.writer` (:func:`write`).
"""

from memesearch.data.formats.msrvtt.layout import TEST_DATA, TRAIN_DATA, TRAIN_IDS, is_msrvtt_folder
from memesearch.data.formats.msrvtt.reader import read
from memesearch.data.formats.msrvtt.writer import write

__all__ = ["TEST_DATA", "TRAIN_DATA", "TRAIN_IDS", "is_msrvtt_folder", "read", "write"]
