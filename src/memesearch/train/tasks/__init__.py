"""Built-in retrieval Tasks of the training loop (registered in :data:`memesearch.train.task._BUILTIN`).

- :mod:`.base`: the :class:`~memesearch.train.tasks.base.RetrievalTask` contract (``branch``,
  ``score_split``, validation on the ``val`` split); :mod:`.retrieval_config` its shared ``task_config``
  keys; :mod:`.samples` the shared dataset plumbing (multi-positive (query, item) pairs of a native
  dataset split, item batches); :mod:`.toy_dataset` a small dataset for smoke runs.
- :mod:`.clip_towers`: :class:`~memesearch.train.tasks.clip_towers.ClipTowersTask`, the CLIP towers
  (load once, tokenise, project token and pooled features, build the model on them) that ``clip4meme``
  and ``ief`` share.
- :mod:`.clip4meme`: ``clip4meme-qi`` (stage 1, query–image) and ``clip4meme-qc`` (stage 2,
  query–context text, stage-1 branch frozen).
- :mod:`.ief`: ``ief`` (Cap4Video-style: token-wise interaction for QI, a caption transformer for QC,
  fusion weights chosen on the validation split).
- :mod:`.object_guided`: ``object-guided`` (issue 14: the starter tower, with a zero-initialised alpha mask
  input, fine-tuned on collage regions against their names; whole collages per batch).
"""
