"""Enrichment of indexed media: text read from images (OCR) and emotion words.

- :mod:`memesearch.enrich.ocr` — :class:`OCRReader` (RapidOCR, Chinese + English, models shipped in the
  ``rapidocr`` wheel, nothing downloaded);
- :mod:`memesearch.enrich.emotion` — the bilingual emotion vocabulary, :func:`normalize_emotion` for
  filter values, and :class:`EmotionTagger` (zero-shot tags from embeddings).

Names are imported on first use, so ``import memesearch.enrich`` loads neither onnxruntime nor numpy-heavy
modules.
"""

from memesearch.utils.lazy import lazy_api

_API = {
    "OCRReader": "memesearch.enrich.ocr",
    "OCRUnavailableError": "memesearch.enrich.ocr",
    "EmotionTagger": "memesearch.enrich.emotion",
    "EmotionWord": "memesearch.enrich.emotion",
    "EMOTION_VOCABULARY": "memesearch.enrich.emotion",
    "EMOTION_WORDS": "memesearch.enrich.emotion",
    "emotion_vocabulary": "memesearch.enrich.emotion",
    "normalize_emotion": "memesearch.enrich.emotion",
    "normalize_emotions": "memesearch.enrich.emotion",
}

__all__ = sorted(_API)

__getattr__, __dir__ = lazy_api(__name__, _API, globals())
