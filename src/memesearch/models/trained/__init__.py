"""Training runs served as encoders (``checkpoint:<run>``) and the run layout both sides read.

- :mod:`memesearch.models.trained.layout` — where a run keeps its checkpoints (best/last pointers);
- :mod:`memesearch.models.trained.encoder` — :func:`load_checkpoint_encoder` for clip4meme and starter runs.
"""
