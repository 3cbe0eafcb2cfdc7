"""Text inside images (OCR) with RapidOCR: Chinese + English, models shipped in the wheel, no download.

:class:`OCRReader` wraps ``rapidocr`` 3.x on onnxruntime with the PP-OCR models that the ``rapidocr``
wheel carries in ``rapidocr/models`` (:data:`MODEL_FILES`): text detection ``PP-OCRv6_det_small``, the
180° text-direction classifier ``ch_ppocr_mobile_v2.0_cls_mobile`` and recognition
``PP-OCRv6_rec_small`` (one multilingual model: simplified + traditional Chinese, English and Latin
scripts; its 18,708-character dictionary is stored inside the ONNX file). Every model path is given
explicitly, so rapidocr never reaches for its download URLs; a missing file is an
:class:`OCRUnavailableError`.

What :meth:`OCRReader.read` returns: one :class:`~memesearch.data.records.OCRLine` per detected text
box whose recognition score is >= ``min_score`` (0.9 by default, as the spec asks), text stripped, empty
texts dropped, in reading order (rows top to bottom, boxes of one row left to right). Boxes are
axis-aligned ``(x0, y0, x1, y1)`` pixels of the input image, the bounds of rapidocr's quadrilaterals.

Sizes: images with a side under :data:`MIN_SIDE` px return ``[]`` without running the models. For
detection rapidocr scales every image so that its *shorter* side is 736 px (``det_side``; small memes
are enlarged, which is what makes 20-px captions on 256-px memes readable), except that images are
enlarged at most :data:`MAX_UPSCALE` times (:func:`det_side_for`: a 64-px sticker is read at 192 px);
rapidocr first shrinks images whose longer side exceeds 2,000 px; boxes are mapped back to the input's
pixels. The decoder's pixel limit (:mod:`memesearch.enrich.media`) bounds the memory before that.

Threads: ``threads`` sets onnxruntime's intra-op threads of each model. The default is 1 because the
ingest pipeline runs one reader per worker process (N workers = N cores busy); a lone reader (the HTTP
server) may use more. ``bench/bench_ingest.py`` measures raw RapidOCR images/s next to the ingest
rate. One reader may be shared by threads (calls are serialised by a lock); for parallel
work use one reader per process. A reader pickles without its engine (rebuilt on first use).

Example::

    >>> reader = OCRReader()                                    # doctest: +SKIP
    >>> [line.text for line in reader.read(Image.open("meme.png"))]   # doctest: +SKIP
    ['我好困啊', 'SO SLEEPY']
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.data.records import OCRLine
from memesearch.errors import ConfigError, DataFormatError, MemesearchError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

logger = logging.getLogger(__name__)

#: Default minimum recognition score of a kept line (the spec: boxes with score >= 0.9).
DEFAULT_MIN_SCORE = 0.9
#: Images with a side shorter than this many pixels hold no readable text: ``read`` returns ``[]``.
MIN_SIDE = 8
#: rapidocr's default detection size: the shorter side is scaled to this many pixels.
DEFAULT_DET_SIDE = 736
#: Small images are enlarged for detection at most this many times (a 64-px sticker is read at 192 px,
#: not 736: 8x faster, and text drawn that small gains nothing from more enlargement).
MAX_UPSCALE = 3
#: Detection never runs below this shorter side.
MIN_DET_SIDE = 96
#: The bundled model files (inside the installed ``rapidocr`` package's ``models`` folder).
MODEL_FILES: dict[str, str] = {
    "det": "PP-OCRv6_det_small.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "rec": "PP-OCRv6_rec_small.onnx",
}

_INSTALL_HINT = "install them with: pip install 'rapidocr==3.10.0' 'onnxruntime==1.32.0'"


class OCRUnavailableError(MemesearchError):
    """RapidOCR, onnxruntime or the bundled OCR models are not available."""


def _missing_packages(*names: str) -> list[str]:
    """The packages among ``names`` that cannot be imported (cheap: nothing is imported)."""
    missing = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # ValueError: sys.modules[name] is None (import blocked)
            found = False
        if not found:
            missing.append(name)
    return missing


def _rapidocr_version() -> str:
    try:
        return package_version("rapidocr")
    except PackageNotFoundError:
        return "missing"


class OCRReader:
    """Reads Chinese and English text lines from images (see the module docstring).

    Args:
        min_score: keep lines whose recognition score is >= this (0..1).
        threads: onnxruntime intra-op threads per model; ``None`` = 1 (one reader per worker process).
            rapidocr ignores values above the machine's core count (onnxruntime then picks its own).
        det_side: the detector's input scale (shorter side in pixels, rapidocr's ``limit_side_len``);
            smaller is faster and misses small text. ``None`` = rapidocr's default 736.

    The models load on the first :meth:`read` (about 1.5 s) or on :meth:`load`.

    Raises:
        OCRUnavailableError: rapidocr or onnxruntime is not installed (checked here), or the model files
            are missing (checked on load).
        ConfigError: an out-of-range argument.
    """

    def __init__(
        self, min_score: float = DEFAULT_MIN_SCORE, threads: int | None = None, *, det_side: int | None = None
    ) -> None:
        if (
            isinstance(min_score, bool)
            or not isinstance(min_score, int | float)
            or not 0.0 <= min_score <= 1.0
        ):
            raise ConfigError(f"OCR min_score must be a number in [0, 1], got {min_score!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ConfigError(f"OCR threads must be a positive integer or None, got {threads!r}")
        if det_side is not None and (
            isinstance(det_side, bool) or not isinstance(det_side, int) or det_side < 32
        ):
            raise ConfigError(f"OCR det_side must be an integer >= 32 or None, got {det_side!r}")
        missing = _missing_packages("rapidocr", "onnxruntime")
        if missing:
            raise OCRUnavailableError(
                f"OCR needs the Python package(s) {' and '.join(missing)}, not installed; {_INSTALL_HINT}"
            )
        self.min_score = float(min_score)
        self.threads = 1 if threads is None else threads
        self.det_side = DEFAULT_DET_SIDE if det_side is None else det_side
        self._engine: Any = None
        self._lock = threading.Lock()

    # -- identity -----------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        """What the output depends on: rapidocr version, model files, thresholds — a cache key.

        ``threads`` is left out: it changes the speed, not the text.
        """
        models = ",".join(MODEL_FILES[k] for k in ("det", "cls", "rec"))
        params = f"min_score={self.min_score:g};det_side={self.det_side};max_upscale={MAX_UPSCALE}"
        return f"rapidocr-{_rapidocr_version()};models={models};{params}"

    def __repr__(self) -> str:
        return f"OCRReader(min_score={self.min_score:g}, threads={self.threads}, det_side={self.det_side})"

    def __getstate__(self) -> dict[str, Any]:
        # the onnxruntime sessions and the lock do not pickle; a worker process rebuilds them
        state = self.__dict__.copy()
        state["_engine"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- engine -------------------------------------------------------------------------------------

    def load(self) -> OCRReader:
        """Load the models now (otherwise the first :meth:`read` does); returns ``self``."""
        with self._lock:
            self._get_engine()
        return self

    def _get_engine(self) -> Any:
        if self._engine is not None:
            return self._engine
        try:
            import rapidocr
        except ImportError as exc:
            raise OCRUnavailableError(f"cannot import rapidocr ({exc}); {_INSTALL_HINT}") from None
        folder = Path(rapidocr.__file__).resolve().parent / "models"
        paths = {stage: folder / name for stage, name in MODEL_FILES.items()}
        absent = [str(p) for p in paths.values() if not p.is_file()]
        if absent:
            raise OCRUnavailableError(
                f"the OCR model files {absent} are missing from the rapidocr package (version "
                f"{_rapidocr_version()}); memesearch expects those of rapidocr 3.10.0 and never downloads "
                f"models; {_INSTALL_HINT}"
            )
        params: dict[str, Any] = {
            # rapidocr's own logger warns once per image without text: keep only its errors
            "Global.log_level": "error",
            # keep everything rapidocr recognises; read() applies min_score (so that it can vary per call)
            "Global.text_score": 0.0,
            "Det.model_path": str(paths["det"]),
            "Det.limit_side_len": self.det_side,
            "Cls.model_path": str(paths["cls"]),
            "Rec.model_path": str(paths["rec"]),
            "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        try:
            engine = rapidocr.RapidOCR(params=params)
            # rapidocr 3.x loads each model on first use; load them now so that errors surface here
            for name in ("_load_det_model", "_load_cls_model", "_load_rec_model"):
                loader = getattr(engine, name, None)
                if loader is not None:
                    loader()
        except Exception as exc:  # onnxruntime raises its own types; all mean "cannot run OCR here"
            raise OCRUnavailableError(f"cannot start RapidOCR: {exc}; {_INSTALL_HINT}") from exc
        logger.info("RapidOCR ready (%s, %d thread(s))", self.version, self.threads)
        self._engine = engine
        return engine

    # -- reading ------------------------------------------------------------------------------------

    def read(self, image: Image.Image | np.ndarray, *, min_score: float | None = None) -> list[OCRLine]:
        """Text lines of one image, in reading order (see the module docstring).

        ``image``: a PIL image (any mode; converted to RGB, transparency on white) or a ``uint8`` numpy
        array ``(H, W, 3)`` in RGB order (or ``(H, W)`` greyscale). ``min_score`` overrides the reader's
        threshold for this call (the reader's :attr:`version` then no longer describes the result).
        """
        threshold = self.min_score if min_score is None else float(min_score)
        rgb = _to_rgb_array(image)  # (H, W, 3) uint8 RGB
        height, width = rgb.shape[:2]
        if min(height, width) < MIN_SIDE:
            return []
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # rapidocr takes numpy arrays as OpenCV BGR
        side = det_side_for(min(height, width), self.det_side)
        with self._lock:
            engine = self._get_engine()
            detector = getattr(engine, "text_det", None)
            if detector is not None and hasattr(detector, "limit_side_len"):
                detector.limit_side_len = side  # read by rapidocr's detector on every call
            result = engine(bgr)
        boxes, texts, scores = (getattr(result, name, None) for name in ("boxes", "txts", "scores"))
        if boxes is None or texts is None or scores is None:
            return []  # nothing detected
        lines = []
        for quad, text, score in zip(boxes, texts, scores, strict=True):
            text = str(text).strip()
            if not text or float(score) < threshold:
                continue
            points = np.asarray(quad, dtype=np.float64).reshape(-1, 2)  # (4, 2) x, y
            x0, y0 = np.clip(points.min(axis=0), 0, (width, height))
            x1, y1 = np.clip(points.max(axis=0), 0, (width, height))
            box = (round(float(x0), 1), round(float(y0), 1), round(float(x1), 1), round(float(y1), 1))
            lines.append(OCRLine(text=text, score=float(score), box=box))
        return reading_order(lines)


def det_side_for(short_side: int, det_side: int = DEFAULT_DET_SIDE) -> int:
    """Detection scale for an image whose shorter side is ``short_side``: ``det_side``, but small images
    are enlarged at most :data:`MAX_UPSCALE` times (and never detected below :data:`MIN_DET_SIDE`).

    >>> det_side_for(64), det_side_for(256), det_side_for(1080)
    (192, 736, 736)
    """
    return int(min(det_side, max(MIN_DET_SIDE, MAX_UPSCALE * short_side)))


def reading_order(lines: list[OCRLine]) -> list[OCRLine]:
    """Sort lines into rows (top to bottom) and each row left to right.

    Two boxes share a row when their vertical overlap is at least half the shorter box's height, so text
    split into several boxes on one baseline reads left to right, while stacked captions stay stacked.
    """
    rows: list[tuple[float, float, list[OCRLine]]] = []  # (top, bottom, lines) per row
    for line in sorted(lines, key=lambda ln: ((ln.box[1] + ln.box[3]) / 2, ln.box[0])):
        top, bottom = line.box[1], line.box[3]
        if rows:
            row_top, row_bottom, members = rows[-1]
            overlap = min(bottom, row_bottom) - max(top, row_top)
            shorter = min(bottom - top, row_bottom - row_top)
            if shorter > 0 and overlap >= 0.5 * shorter:
                members.append(line)
                rows[-1] = (min(top, row_top), max(bottom, row_bottom), members)
                continue
        rows.append((top, bottom, [line]))
    return [line for _, _, members in rows for line in sorted(members, key=lambda ln: ln.box[0])]


def _to_rgb_array(image: Any) -> np.ndarray:
    """A PIL image or a numpy array -> ``(H, W, 3)`` uint8 RGB (checked)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        from memesearch.models.encoders.images import to_rgb

        return np.asarray(to_rgb(image), dtype=np.uint8)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise DataFormatError(
                f"OCR expects a uint8 image array, got dtype {image.dtype}",
                hint="convert with np.clip(a, 0, 255).astype(np.uint8), or pass a PIL image",
            )
        if image.ndim == 2:
            return np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim == 3 and image.shape[2] == 3:
            return image
        raise DataFormatError(
            f"OCR expects an (H, W, 3) RGB or (H, W) greyscale array, got shape {image.shape}",
            hint="drop the alpha channel (composite it on white first) or pass a PIL image",
        )
    raise DataFormatError(
        f"OCR expects a PIL image or a numpy array, got {type(image).__name__}",
        hint="open files with memesearch.enrich.media.decode_media or PIL.Image.open",
    )
