"""The captioner as one object: frozen image encoder + ClipCap network + tokenizer, saved and loaded by name.

A saved captioner is a folder that describes itself (the same files sit in every ``clipcap`` training
checkpoint, so a run loads the same way)::

    DIR/captioner.json      {"format": "memesearch-captioner", "captioner": CaptionerConfig, "decoder": the
                             transformers config of the decoder, "trained_on": ...}
    DIR/model.safetensors   mapping network, language vectors and decoder weights
    DIR/tokenizer/          the decoder's tokenizer (save_pretrained)
    DIR/metrics.json        optional: caption metrics measured through these weights

Names :func:`load_captioner` accepts: ``starter-caption`` (the weights shipped in the package), a saved
captioner folder, a ``clipcap`` checkpoint folder, or a ``clipcap`` run folder (its best checkpoint).

Example::

    >>> captioner = load_captioner("starter-caption")                         # doctest: +SKIP
    >>> captioner.caption(["sticker.png"])[0][0].text                           # doctest: +SKIP
    'grinning face'
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.caption.config import CaptionerConfig
from memesearch.caption.decoder import (
    decoder_from_description,
    describe_decoder,
    load_pretrained_decoder,
    load_tokenizer,
)
from memesearch.caption.decoding import Caption, DecodeConfig, generate_captions
from memesearch.caption.model import ClipCapModel
from memesearch.errors import ConfigError, UnknownNameError
from memesearch.models.encoders.base import Encoder, EncoderLoadError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from memesearch.models.encoders.images import ImageInput

log = logging.getLogger(__name__)

CAPTIONER_FILE = "captioner.json"
MODEL_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
METRICS_FILE = "metrics.json"
FORMAT = "memesearch-captioner"
FORMAT_VERSION = 1

#: captioners shipped in the package: name -> folder under ``memesearch/caption/weights``
BUILTIN: dict[str, str] = {"starter-caption": "starter-caption"}


def builtin_dir(name: str) -> Path:
    """The folder of a shipped captioner inside the installed package."""
    from importlib import resources

    return Path(str(resources.files("memesearch.caption").joinpath("weights", BUILTIN[name])))


class Captioner:
    """Images -> captions. Built by :func:`load_captioner` (or by training, :func:`new_captioner`).

    ``encoder`` (the frozen image encoder named by ``config.encoder``) is created on first use unless given.
    """

    def __init__(
        self,
        model: ClipCapModel,
        tokenizer: Any,
        *,
        name: str = "captioner",
        encoder: Encoder | None = None,
        described: Mapping[str, Any] | None = None,
        weights_sha256: str | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self._encoder = encoder
        self.described = dict(described or {})
        self._weights_sha256 = weights_sha256

    @property
    def config(self) -> CaptionerConfig:
        return self.model.config

    @property
    def languages(self) -> tuple[str, ...]:
        return self.config.languages

    @property
    def encoder(self) -> Encoder:
        """The frozen image encoder (created on first use, on the model's device)."""
        if self._encoder is None:
            from memesearch.models.encoders.registry import create_encoder

            self._encoder = create_encoder(self.config.encoder, device=str(self.device))
            if self._encoder.dim != self.config.feature_dim:
                raise EncoderLoadError(
                    f"captioner {self.name!r} was trained on {self.config.feature_dim}-d image embeddings, "
                    f"but {self.config.encoder!r} gives {self._encoder.dim}-d ones"
                )
        return self._encoder

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def version(self) -> str:
        """A short hash of the weights and the config: changes whenever captions could change."""
        if self._weights_sha256 is None:
            digest = hashlib.sha256()
            for key, tensor in sorted(self.model.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            self._weights_sha256 = digest.hexdigest()
        config = json.dumps(self.config.to_dict(), sort_keys=True)
        return hashlib.sha256(f"{self._weights_sha256}:{config}".encode()).hexdigest()[:16]

    def features(self, images: Sequence[ImageInput], *, batch_size: int = 32) -> np.ndarray:
        """Image embeddings ``(N, F)`` float32 by the frozen encoder (paths or PIL images)."""
        return self.encoder.encode_image(
            list(images), normalize=self.config.normalize_features, batch_size=batch_size, progress=False
        )

    def caption_features(
        self, features: np.ndarray, decode: DecodeConfig | None = None, *, batch_size: int = 16
    ) -> list[list[Caption]]:
        """Captions of precomputed image embeddings ``(N, F)``, ``batch_size`` images per decoder call."""
        import torch

        out: list[list[Caption]] = []
        for start in range(0, len(features), batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(features[start : start + batch_size]))
            out.extend(generate_captions(self.model, self.tokenizer, chunk.to(self.device), decode))
        return out

    def caption(
        self, images: Sequence[ImageInput], decode: DecodeConfig | None = None, *, batch_size: int = 16
    ) -> list[list[Caption]]:
        """``decode.num_return`` captions per image, best first."""
        return self.caption_features(
            self.features(images, batch_size=batch_size), decode, batch_size=batch_size
        )

    def files(self, trained_on: Mapping[str, Any] | None = None) -> dict[str, bytes]:
        """The self-describing files of this captioner except the weights: ``captioner.json`` and the
        tokenizer folder (written into saved captioners and into every training checkpoint)."""
        from memesearch._version import __version__

        described = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "memesearch_version": __version__,
            "captioner": self.config.to_dict(),
            "decoder": describe_decoder(self.model.decoder),
            "tokenizer": TOKENIZER_DIR,
            "trained_on": dict(
                trained_on if trained_on is not None else self.described.get("trained_on", {})
            ),
        }
        files = {CAPTIONER_FILE: (json.dumps(described, indent=2, ensure_ascii=False) + "\n").encode()}
        with tempfile.TemporaryDirectory() as tmp:
            self.tokenizer.save_pretrained(tmp)
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    files[f"{TOKENIZER_DIR}/{path.relative_to(tmp).as_posix()}"] = path.read_bytes()
        return files

    def save(self, directory: str | Path, *, trained_on: Mapping[str, Any] | None = None) -> Path:
        """Write the captioner folder (module docstring); existing files there are replaced."""
        from safetensors.torch import save_model

        from memesearch.utils.io import atomic_path, atomic_write_bytes

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for rel, data in self.files(trained_on).items():
            (directory / rel).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(directory / rel, data)
        with atomic_path(directory / MODEL_FILE) as tmp:
            save_model(self.model, str(tmp), metadata={"format": "pt", "captioner": FORMAT})
        return directory


def new_captioner(
    config: CaptionerConfig, tokenizer: Any = None, *, encoder: Encoder | None = None
) -> Captioner:
    """A captioner with a fresh mapping network: the decoder is ``config.decoder.source`` with its weights,
    or a random small GPT-2 for ``tokenizer`` (required then). ``config.feature_dim`` must be set."""
    from memesearch.caption.decoder import build_decoder

    if config.decoder.pretrained:
        decoder, loaded = load_pretrained_decoder(config.decoder)
        tokenizer = tokenizer or loaded
    else:
        if tokenizer is None:
            raise ConfigError("a decoder built from config needs a tokenizer (train_tokenizer or a folder)")
        decoder = build_decoder(config.decoder, tokenizer)
    return Captioner(ClipCapModel(config, decoder), tokenizer, name="new", encoder=encoder)


def resolve_captioner_dir(name: str | Path) -> Path:
    """The folder holding ``captioner.json`` for a name (module docstring); unknown names list the valid
    ones."""
    from memesearch.models.trained.layout import served_checkpoint

    text = str(name)
    if text in BUILTIN:
        return builtin_dir(text)
    path = Path(text).expanduser()
    if (path / CAPTIONER_FILE).is_file():
        return path
    if path.is_dir() and (path / "checkpoints").is_dir():
        checkpoint = served_checkpoint(path)
        if (checkpoint / CAPTIONER_FILE).is_file():
            return checkpoint
        raise ConfigError(f"{path} is a training run, but not of the clipcap task (no {CAPTIONER_FILE})")
    raise UnknownNameError(
        f"unknown captioner {text!r}: not a shipped captioner ({', '.join(BUILTIN)}), nor a folder with "
        f"{CAPTIONER_FILE} (a saved captioner or clipcap checkpoint), nor a clipcap run folder"
    )


def load_captioner(
    name: str | Path = "starter-caption", *, device: str | None = None, encoder: Encoder | None = None
) -> Captioner:
    """Load a captioner by name (module docstring) on ``device`` (None: CUDA when available)."""
    from safetensors.torch import load_model

    from memesearch.utils.device import resolve_device
    from memesearch.utils.io import sha256_file

    folder = resolve_captioner_dir(name)
    described = _read_description(folder / CAPTIONER_FILE)
    config = CaptionerConfig.from_dict(described["captioner"])
    tokenizer = load_tokenizer(str(folder / str(described.get("tokenizer", TOKENIZER_DIR))))
    model = ClipCapModel(config, decoder_from_description(described["decoder"]))
    weights = folder / MODEL_FILE
    try:
        load_model(model, str(weights), strict=True)
    except (RuntimeError, OSError) as exc:
        raise EncoderLoadError(
            f"the weights in {weights} do not fit the captioner described in {CAPTIONER_FILE}: "
            f"{str(exc).splitlines()[0][:300]}"
        ) from None
    model.to(resolve_device(device))
    label = str(name) if str(name) in BUILTIN else str(folder)
    log.info("loaded captioner %s (%s, encoder %s)", label, ", ".join(config.languages), config.encoder)
    return Captioner(
        model,
        tokenizer,
        name=label,
        encoder=encoder,
        described=described,
        weights_sha256=sha256_file(weights),
    )


def _read_description(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EncoderLoadError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EncoderLoadError(f"{path}: not a captioner description (format {FORMAT!r} expected)")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise EncoderLoadError(
            f"{path}: format_version {data.get('format_version')} is newer than this memesearch reads "
            f"({FORMAT_VERSION}); upgrade memesearch"
        )
    return data
