"""Encoder registry, base behaviour, tiny-clip, image loading and the ``clip:`` loader on tiny checkpoints."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memesearch.errors import ConfigError, DataFormatError, UnknownNameError
from memesearch.models import (
    EncoderConfig,
    EncoderLoadError,
    ModalityError,
    create_encoder,
    list_encoders,
    load_image,
    register_encoder,
    save_random_clip,
)
from memesearch.models.encoders import clip_preprocess, to_rgb
from memesearch.models.encoders.random_checkpoints import (
    bytes_to_unicode,
    clip_vocab,
    read_clip_merges,
)

torch = pytest.importorskip("torch")

TOKENIZERS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tokenizers"


def emoji_like(size: int = 40) -> Image.Image:
    """A red disc on a transparent canvas whose hidden colour is black (as many PNG encoders store it)."""
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    disc = Image.new("RGBA", (size // 2, size // 2), (220, 30, 30, 255))
    canvas.paste(disc, (size // 4, size // 4))
    return canvas


@pytest.fixture(scope="module")
def tiny() -> object:
    return create_encoder("tiny-clip:0", device="cpu")


# -- registry ------------------------------------------------------------------------------------------


def test_list_encoders_names_every_family() -> None:
    names = list_encoders()
    for expected in ("clip:<local dir or hub id>", "st:<local dir or hub id>", "e5-small", "minilm"):
        assert expected in names
    assert any(name.startswith("tiny-clip") for name in names)


def test_unknown_name_lists_valid_names_and_suggests() -> None:
    with pytest.raises(UnknownNameError) as info:
        create_encoder("e5small")
    message = str(info.value)
    assert "'e5-small'" in message and "did you mean" in message
    for name in list_encoders():
        assert name in message


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("clip", "needs an argument"),
        ("clip:", "needs an argument"),
        ("minilm:foo", "takes no ':' argument"),
        ("tiny-clip:abc", "must be an integer"),
        ("tiny-clip:-1", ">= 0"),
    ],
)
def test_bad_arguments_are_config_errors(name: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        create_encoder(name)


def test_unknown_option_lists_accepted_ones() -> None:
    with pytest.raises(ConfigError, match="accepts: max_length"):
        create_encoder("clip:/nowhere", maxlen=3)


def test_register_encoder_adds_a_family(tiny: object) -> None:
    calls: list[tuple[str, str | None]] = []

    def factory(name: str, arg: str | None, *, device: str | None, dtype: object) -> object:
        calls.append((name, arg))
        return tiny

    register_encoder("test-fam", factory, pattern="test-fam[:x]", argument="optional", replace=True)
    assert create_encoder("test-fam:7") is tiny
    assert calls == [("test-fam:7", "7")]
    assert "test-fam[:x]" in list_encoders()
    with pytest.raises(ValueError, match="already registered"):
        register_encoder("test-fam", factory)


# -- EncoderConfig -------------------------------------------------------------------------------------


def test_encoder_config_round_trips_and_is_frozen(tiny: object) -> None:
    config = tiny.config  # type: ignore[attr-defined]
    data = config.to_dict()
    assert data["kind"] == "tiny_clip" and data["dim"] == 32 and data["image_size"] == 32
    assert data["modalities"] == ["image", "text"] and data["extra"]["seed"] == 0
    assert "torch" in data["versions"]
    again = EncoderConfig.from_dict(data)
    assert again == config and hash(again) == hash(config)
    with pytest.raises(AttributeError):
        config.dim = 3
    with pytest.raises(TypeError):
        config.extra["seed"] = 5  # the mappings are read-only too
    with pytest.raises(ConfigError, match="unknown EncoderConfig keys"):
        EncoderConfig.from_dict({**data, "colour": "red"})


# -- tiny-clip -----------------------------------------------------------------------------------------


def test_tiny_clip_is_deterministic_per_seed(tiny: object) -> None:
    texts = ["a grinning face", "一只猫", ""]
    images = [emoji_like(), Image.new("RGB", (50, 30), (10, 200, 40))]
    again = create_encoder("tiny-clip", device="cpu")  # seed 0 by default
    other = create_encoder("tiny-clip:1", device="cpu")
    assert again.name == "tiny-clip:0"
    np.testing.assert_array_equal(tiny.encode_text(texts), again.encode_text(texts))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(tiny.encode_image(images), again.encode_image(images))  # type: ignore[attr-defined]
    assert not np.allclose(tiny.encode_text(texts), other.encode_text(texts))  # type: ignore[attr-defined]


def test_tiny_clip_does_not_touch_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    create_encoder("tiny-clip:4", device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_shapes_dtype_and_normalisation(tiny: object) -> None:
    texts = ["hello", "world", "meme"]
    unit = tiny.encode_text(texts)  # type: ignore[attr-defined]
    raw = tiny.encode_text(texts, normalize=False)  # type: ignore[attr-defined]
    assert unit.shape == (3, 32) and unit.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)
    images = tiny.encode_image([emoji_like()] * 2)  # type: ignore[attr-defined]
    assert images.shape == (2, 32) and images.dtype == np.float32
    assert tiny.encode_text([]).shape == (0, 32)  # type: ignore[attr-defined]
    assert tiny.encode_image([]).shape == (0, 32)  # type: ignore[attr-defined]


def test_batching_and_progress_do_not_change_results(tiny: object) -> None:
    texts = [f"text number {i}" for i in range(11)]
    whole = tiny.encode_text(texts, batch_size=64)  # type: ignore[attr-defined]
    ones = tiny.encode_text(texts, batch_size=1, progress=True)  # type: ignore[attr-defined]
    np.testing.assert_allclose(whole, ones, atol=1e-5)
    images = [Image.new("RGB", (20 + i, 30), (i * 20, 0, 0)) for i in range(5)]
    np.testing.assert_allclose(
        tiny.encode_image(images, batch_size=2),  # type: ignore[attr-defined]
        tiny.encode_image(images, batch_size=5),  # type: ignore[attr-defined]
        atol=1e-5,
    )


def test_bfloat16_weights_still_return_float32() -> None:
    encoder = create_encoder("tiny-clip:0", device="cpu", dtype="bf16")
    out = encoder.encode_text(["hello"])
    assert out.dtype == np.float32 and encoder.config.dtype == "bfloat16"


def test_byte_tokenizer_truncates_and_pads() -> None:
    encoder = create_encoder("tiny-clip:0", device="cpu")
    batch = encoder.tokenizer(["x" * 100, "ab"])
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape == (2, 32)
    assert ids[0, -1].item() == encoder.tokenizer.eos_token_id
    assert mask[1].tolist() == [1, 1, 1, 1] + [0] * 28


@pytest.mark.parametrize("bad", ["just one string", [1, 2]])
def test_bad_text_inputs_are_reported(tiny: object, bad: object) -> None:
    with pytest.raises(DataFormatError):
        tiny.encode_text(bad)  # type: ignore[attr-defined]


def test_bad_kind_and_batch_size(tiny: object) -> None:
    with pytest.raises(ConfigError, match="'query' or 'passage'"):
        tiny.encode_text(["x"], kind="document")  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="batch_size"):
        tiny.encode_text(["x"], batch_size=0)  # type: ignore[attr-defined]


def test_device_errors() -> None:
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            create_encoder("tiny-clip", device="cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        create_encoder("tiny-clip", device="abacus")
    with pytest.raises(ConfigError, match="unknown dtype"):
        create_encoder("tiny-clip", device="cpu", dtype="float8")


# -- image loading -------------------------------------------------------------------------------------


def test_transparency_is_composited_on_white() -> None:
    rgb = to_rgb(emoji_like())
    assert rgb.mode == "RGB"
    assert rgb.getpixel((0, 0)) == (255, 255, 255)  # not the hidden black
    assert rgb.getpixel((20, 20)) == (220, 30, 30)
    half = to_rgb(Image.new("LA", (2, 2), (0, 128)))  # black at ~50% alpha -> mid grey
    assert abs(half.getpixel((0, 0))[0] - 127) <= 1


def test_palette_with_transparent_index() -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.info["transparency"] = 0
    rgb = to_rgb(image)
    assert rgb.getpixel((0, 0)) == (255, 255, 255) and rgb.getpixel((1, 1)) == (0, 0, 255)


def test_other_modes_become_rgb() -> None:
    assert to_rgb(Image.new("L", (2, 2), 77)).getpixel((0, 0)) == (77, 77, 77)
    assert to_rgb(Image.new("1", (2, 2), 1)).getpixel((0, 0)) == (255, 255, 255)
    assert to_rgb(Image.new("CMYK", (2, 2), (0, 255, 255, 0))).getpixel((0, 0)) == (255, 0, 0)
    # 16-bit grey: PIL's own convert clips 32768 to white; we rescale to the middle grey
    deep = Image.fromarray(np.full((2, 2), 32768, dtype=np.uint16))
    assert abs(to_rgb(deep).getpixel((0, 0))[0] - 128) <= 1
    rgb = Image.new("RGB", (2, 2))
    assert to_rgb(rgb) is rgb


def test_load_image_from_paths(tmp_path: Path) -> None:
    emoji_path = tmp_path / "emoji.png"
    emoji_like().save(emoji_path)
    loaded = load_image(emoji_path)
    assert loaded.mode == "RGB" and loaded.getpixel((0, 0)) == (255, 255, 255)
    assert load_image(str(emoji_path)).tobytes() == loaded.tobytes()

    # EXIF orientation 6 = rotate 90 degrees clockwise when displayed
    exif = Image.Exif()
    exif[0x0112] = 6
    photo_path = tmp_path / "photo.jpg"
    Image.new("RGB", (20, 10), (0, 0, 255)).save(photo_path, exif=exif)
    assert load_image(photo_path).size == (10, 20)

    frames = [Image.new("P", (8, 8), i) for i in (1, 2)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    gif_path = tmp_path / "anim.gif"
    frames[0].save(gif_path, save_all=True, append_images=frames[1:])
    assert load_image(gif_path).getpixel((0, 0)) == (255, 0, 0)  # first frame


def test_load_image_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="not found") as info:
        load_image(tmp_path / "missing.png")
    assert "missing.png" in str(info.value)
    text_file = tmp_path / "notes.png"
    text_file.write_text("not an image")
    with pytest.raises(DataFormatError, match="not a readable image"):
        load_image(text_file)
    with pytest.raises(DataFormatError, match="PIL image or a path"):
        load_image(42)  # type: ignore[arg-type]


def test_encode_image_accepts_paths_and_pil_alike(tiny: object, tmp_path: Path) -> None:
    image = emoji_like()
    path = tmp_path / "e.png"
    image.save(path)
    from_path = tiny.encode_image([path, str(path)])  # type: ignore[attr-defined]
    from_pil = tiny.encode_image([image, to_rgb(image)])  # type: ignore[attr-defined]
    np.testing.assert_allclose(from_path, from_pil, atol=1e-6)
    np.testing.assert_allclose(from_pil[0], from_pil[1], atol=1e-6)


def test_clip_preprocess_resizes_short_side_and_centre_crops() -> None:
    # left half black, right half white, 64x32: after resizing to 32x16 -> crop 16x16 from the middle
    image = Image.new("RGB", (64, 32), (0, 0, 0))
    image.paste(Image.new("RGB", (32, 32), (255, 255, 255)), (32, 0))
    out = clip_preprocess(image, 16)
    assert out.shape == (3, 16, 16) and out.dtype == np.float32
    mean, std = 0.48145466, 0.26862954
    assert out[0, 8, 0] == pytest.approx((0 - mean) / std, abs=1e-4)
    assert out[0, 8, 15] == pytest.approx((1 - mean) / std, abs=1e-4)


# -- text-only and image-only guards -------------------------------------------------------------------


def test_text_only_encoder_refuses_images() -> None:
    encoder = create_encoder("e5-small")
    assert encoder.supports_text and not encoder.supports_images
    with pytest.raises(ModalityError, match="text-only"):
        encoder.encode_image([emoji_like()])


# -- clip: loader --------------------------------------------------------------------------------------


def test_clip_missing_directory_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError) as info:
        create_encoder(f"clip:{tmp_path / 'nope'}")
    message = str(info.value)
    assert "does not exist" in message and "\n" not in message
    assert info.value.__cause__ is None and info.value.__context__ is None  # no chained traceback


def test_clip_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match=r"no config\.json"):
        create_encoder(f"clip:{tmp_path}")
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(EncoderLoadError, match="is a directory"):
        create_encoder(f"clip:{tmp_path / 'weights.bin'}")


def test_clip_hub_id_offline_fails_with_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderLoadError) as info:
        create_encoder("clip:openai/clip-vit-base-patch32")
    message = str(info.value)
    assert "HF_HUB_OFFLINE=1" in message and "openai/clip-vit-base-patch32" in message
    assert "\n" not in message and message.count(". ") == 0


def test_clip_rejects_other_model_types(tmp_path: Path) -> None:
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(EncoderLoadError, match="'bert' checkpoint"):
        create_encoder(f"clip:{tmp_path}")


def test_clip_missing_preprocessor_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    save_random_clip(tmp_path, "clip-tiny")
    (tmp_path / "preprocessor_config.json").unlink()
    with pytest.raises(EncoderLoadError, match=r"image preprocessing \(preprocessor_config.json\)"):
        create_encoder(f"clip:{tmp_path}", device="cpu")


@pytest.mark.parametrize(
    ("arch", "model_class"), [("clip-tiny", "CLIPModel"), ("chinese-clip-tiny", "ChineseCLIPModel")]
)
def test_tiny_checkpoints_match_transformers(
    arch: str, model_class: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reference equivalence on tiny configs (full size: tests/integration/test_clip_reference.py)."""
    import transformers

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    save_random_clip(tmp_path, arch, seed=3)
    encoder = create_encoder(f"clip:{tmp_path}", device="cpu")
    assert encoder.config.kind == arch.removesuffix("-tiny").replace("-", "_")
    assert encoder.config.extra["model_class"] == model_class
    assert encoder.dim == 32 and encoder.config.image_size == 32
    assert "torchvision" not in sys.modules

    images = [to_rgb(emoji_like(48)), Image.new("RGB", (70, 40), (5, 90, 200))]
    texts = ["a happy cat", "生气的脸", "x"]
    model = getattr(transformers, model_class).from_pretrained(tmp_path).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(tmp_path, backend="pil")
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    with torch.inference_mode():
        ref_images = model.get_image_features(**processor(images=images, return_tensors="pt")).pooler_output
        tokens = tokenizer(texts, padding=True, return_tensors="pt")
        ref_texts = model.get_text_features(**tokens).pooler_output
    np.testing.assert_allclose(encoder.encode_image(images, normalize=False), ref_images.numpy(), atol=1e-5)
    np.testing.assert_allclose(encoder.encode_text(texts, normalize=False), ref_texts.numpy(), atol=1e-5)
    np.testing.assert_allclose(
        encoder.preprocess(images[1]), processor(images=[images[1]])["pixel_values"][0]
    )


def test_clip_max_length_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    save_random_clip(tmp_path, "clip-tiny")
    with pytest.raises(ConfigError, match="max_length must be between 2 and 77"):
        create_encoder(f"clip:{tmp_path}", device="cpu", max_length=500)
    short = create_encoder(f"clip:{tmp_path}", device="cpu", max_length=5)
    assert short.config.max_length == 5
    long_texts = ["one two three four five six seven", "one two three four"]
    ids = short.tokenizer(long_texts, truncation=True, max_length=5)["input_ids"]
    assert [len(row) for row in ids] == [5, 5]
    # both truncate to the same first three words, so they embed the same
    out = short.encode_text(long_texts)
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)


# -- tokenizers built from vocabularies ----------------------------------------------------------------


def test_bytes_to_unicode_is_a_printable_bijection() -> None:
    table = bytes_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord("a")] == "a" and table[ord(" ")] == chr(256 + 32)
    assert all(ch.isprintable() and not ch.isspace() for ch in table.values())


def test_stand_in_clip_vocab_has_bytes_and_word_ends() -> None:
    vocab = clip_vocab([])
    assert len(vocab) == 514
    assert vocab["a"] == 64 and vocab["a</w>"] == 256 + 64
    assert vocab["<|startoftext|>"] == 512 and vocab["<|endoftext|>"] == 513


def test_real_clip_bpe_vocabulary_matches_clip() -> None:
    merges_file = TOKENIZERS / "clip-bpe" / "bpe_simple_vocab_16e6.txt.gz"
    if not merges_file.is_file():
        pytest.skip(f"CLIP BPE merges not found at {merges_file} (shared data is not part of the repository)")
    vocab = clip_vocab(read_clip_merges(merges_file))
    assert len(vocab) == 49408  # the vocab_size of every OpenAI CLIP text tower
    # token ids published with OpenAI CLIP: "a photo of a cat" -> 49406 320 1125 539 320 2368 49407
    assert [vocab[t] for t in ("a</w>", "photo</w>", "of</w>", "cat</w>")] == [320, 1125, 539, 2368]
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407


def test_read_clip_merges_rejects_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "merges.txt"
    bad.write_text("#version\ni n\nt h e x\n")
    with pytest.raises(DataFormatError, match=r"merges.txt:3"):
        read_clip_merges(bad)


def test_preprocess_tensor_matches_numpy_path(tiny: object) -> None:
    image = Image.open(io.BytesIO(_png_bytes(emoji_like())))
    tensor = tiny.preprocess(image)  # type: ignore[attr-defined]
    np.testing.assert_allclose(tensor.numpy(), clip_preprocess(image, 32))


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_unreachable_hub_message_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from memesearch.models.encoders.sources import resolve_source

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    source = resolve_source("clip:owner/model", "owner/model")
    assert not source.is_local and not source.local_files_only
    cause = OSError(
        "We couldn't connect to 'https://huggingface.co' to load the files.\nCheck your connection."
    )
    message = str(source.fail("the config", cause))
    assert message.startswith("cannot load the config of 'clip:owner/model'")
    assert (
        "could not provide it (We couldn't connect to 'https://huggingface.co' to load the files)" in message
    )
    assert "\n" not in message
    monkeypatch.setenv("HF_HUB_OFFLINE", "true")
    assert source.local_files_only
