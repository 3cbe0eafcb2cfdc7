"""Enrichment of indexed media: text read from images (OCR) and emotion words.

- :mod:`memesearch.enrich.ocr` — :class:`OCRReader` (RapidOCR, Chinese + English, models shipped in the
  ``rapidocr`` wheel, nothing downloaded);
- :mod:`memesearch.enrich.emotion` — :class:`EmotionTagger` (zero-shot tags from embeddings).

The bilingual emotion vocabulary and :func:`normalize_emotion` live in :mod:`memesearch.data.emotions`;
their names are offered here too, so ``from memesearch.enrich import normalize_emotion`` keeps working.

Names are imported on first use, so ``import memesearch.enrich`` loads neither onnxruntime nor numpy-heavy
modules.
"""

from memesearch.utils.lazy import lazy_api

_API = {
    "OCRReader": "memesearch.enrich.ocr",
    "OCRUnavailableError": "memesearch.enrich.ocr",
    "EmotionTagger": "memesearch.enrich.emotion",
    "EmotionWord": "memesearch.data.emotions",
    "EMOTION_VOCABULARY": "memesearch.data.emotions",
    "EMOTION_WORDS": "memesearch.data.emotions",
    "emotion_vocabulary": "memesearch.data.emotions",
    "normalize_emotion": "memesearch.data.emotions",
    "normalize_emotions": "memesearch.data.emotions",
}

__all__ = sorted(_API)

__getattr__, __dir__ = lazy_api(__name__, _API, globals())
