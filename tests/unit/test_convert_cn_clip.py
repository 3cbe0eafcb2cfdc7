"""``memesearch models convert cn-clip``: original Chinese-CLIP / QA-CLIP / UniCLIP checkpoints -> ``clip:``.

Each checkpoint is written in the original format from a tiny random model of the original architecture
(tests/unit/cn_clip_reference.py, written from the documented key layout), converted, loaded through the
encoder registry, and its image and text embeddings compared with the reference model's on a JPEG file
and zh/en texts, with cn_clip's own preprocessing and tokenization.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from memesearch.cli.main import main
from memesearch.errors import ConfigError, DataFormatError
from memesearch.models import create_encoder, load_image
from memesearch.models.encoders import clip_preprocess

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from memesearch.models.convert import ARCHITECTURES, convert_cn_clip  # noqa: E402
from memesearch.models.convert.cn_clip import VOCAB_FILE, normalise_flash_attention  # noqa: E402
from memesearch.models.convert.cn_clip_arch import infer_arch  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "cn_clip_reference", Path(__file__).with_name("cn_clip_reference.py")
)
assert _spec is not None and _spec.loader is not None
ref = importlib.util.module_from_spec(_spec)
sys.modules["cn_clip_reference"] = ref  # dataclasses look their module up by name
_spec.loader.exec_module(ref)

TEXTS = ["我今天很开心", "a happy cat, 哈哈哈!", "生气的表情包", "Hello World 你好", "x"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JPEG file, wider than tall, so a centre crop would lose its sides."""
    x = np.linspace(0, 255, 120, dtype=np.float32)
    y = np.linspace(0, 255, 70, dtype=np.float32)[:, None]
    rgb = np.stack([np.broadcast_to(x, (70, 120)), np.broadcast_to(y, (70, 120)), 255 - (x + y) / 2], -1)
    image = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.rectangle((2, 10, 20, 60), fill=(250, 20, 20))  # left edge: cut off by a centre crop
    draw.text((40, 30), "hi 你好", fill=(0, 0, 0))
    path = tmp_path_factory.mktemp("img") / "photo.jpg"
    image.save(path, quality=90)
    return path


def reference_embeddings(model: Any, image_path: Path, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    tokenizer = ref.WordPiece(VOCAB_FILE)
    with torch.no_grad():
        image = model.encode_image(ref.pixels(Image.open(image_path), size)[None]).numpy()
        text = model.encode_text(tokenizer(TEXTS, context=52)).numpy()
    return image, text


def assert_same_model(out: Path, model: Any, image_path: Path) -> None:
    encoder = create_encoder(f"clip:{out}", device="cpu", max_length=52)
    assert encoder.config.extra["model_class"] == "ChineseCLIPModel"
    want_image, want_text = reference_embeddings(model, image_path)
    got_image = encoder.encode_image([load_image(image_path)], normalize=False)
    got_text = encoder.encode_text(TEXTS, normalize=False)
    np.testing.assert_allclose(got_image, want_image, atol=1e-4, rtol=0)
    np.testing.assert_allclose(got_text, want_text, atol=1e-4, rtol=0)


def test_chinese_clip_checkpoint_round_trips(tmp_path: Path, photo: Path) -> None:
    model = ref.build(0)
    ckpt = tmp_path / "epoch_latest.pt"
    ref.save_original(model, ckpt)
    out = tmp_path / "new" / "converted"  # parents are created
    result = convert_cn_clip(ckpt, out)
    assert result.inferred and result.arch.name == "inferred"
    assert (result.arch.vision_heads, result.arch.text_heads, result.arch.image_size) == (2, 2, 32)
    assert result.metadata == {"epoch": 3, "step": 1200} and result.dropped == {}
    written = {p.name for p in out.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "vocab.txt",
        "conversion.json",
    } <= written
    assert "tokenizer_config.json" in written and "training_heads.safetensors" not in written
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
    assert_same_model(out, model, photo)

    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict) == {torch.float32}
    record = json.loads((out / "conversion.json").read_text())
    assert record["arch"]["inferred"] is True and record["checkpoint"] == {"epoch": 3, "step": 1200}


def test_tokenizer_gives_cn_clip_ids(tmp_path: Path) -> None:
    ckpt = tmp_path / "c.pt"
    ref.save_original(ref.build(1), ckpt)
    convert_cn_clip(ckpt, tmp_path / "out")
    encoder = create_encoder(f"clip:{tmp_path / 'out'}", device="cpu", max_length=52)
    want = ref.WordPiece(VOCAB_FILE)(TEXTS, context=52)
    for text, row in zip(TEXTS, want.tolist(), strict=True):
        ids = encoder.tokenizer(text)["input_ids"]
        assert ids == [i for i in row if i != 0], text
    vocab = VOCAB_FILE.read_text(encoding="utf-8").split("\n")
    assert encoder.tokenizer("开心 happy")["input_ids"] == [
        vocab.index(t) for t in ("[CLS]", "开", "心", "happy", "[SEP]")
    ]


def test_preprocessing_squashes_without_centre_crop(tmp_path: Path, photo: Path) -> None:
    """The written image processor reproduces cn_clip's transform, and the encoder honours it."""
    ckpt = tmp_path / "c.pt"
    ref.save_original(ref.build(2), ckpt)
    out = tmp_path / "out"
    convert_cn_clip(ckpt, out)
    config = json.loads((out / "preprocessor_config.json").read_text())
    assert config["do_center_crop"] is False and config["size"] == {"height": 32, "width": 32}
    assert config["resample"] == 3  # bicubic
    encoder = create_encoder(f"clip:{out}", device="cpu")
    image = load_image(photo)
    got = np.asarray(encoder.preprocess(image))
    np.testing.assert_allclose(got, ref.pixels(image, 32).numpy(), atol=1e-6)
    # the red bar at the left edge survives; a shortest-side resize + centre crop (CLIP's) cuts it off
    crop = clip_preprocess(image, 32)
    assert got[0, 8:24, 1].mean() > 1.5 and crop[0, 8:24, 1].mean() < 0


def test_qa_clip_shaped_checkpoint_half_precision_with_pooler(tmp_path: Path, photo: Path) -> None:
    """QA-CLIP / older cn_clip: a 'name' and optimizer state, an unused BERT pooler, fp16 tensors."""
    model = ref.build(3, pooler=True)
    ckpt = tmp_path / "QA-CLIP-base.pt"
    optimizer = torch.optim.AdamW(model.parameters())
    ref.save_original(model, ckpt, half=True, name="qa-clip", optimizer=optimizer.state_dict())
    model = model.half().float()  # the reference holds the same (fp16-rounded) weights
    result = convert_cn_clip(ckpt, tmp_path / "out")
    assert result.dropped == {"bert.pooler": 2, "optimizer": 1}
    assert result.metadata == {"epoch": 3, "step": 1200, "name": "qa-clip"}
    assert_same_model(tmp_path / "out", model, photo)


@pytest.mark.parametrize("keep", [False, True])
def test_uniclip_shaped_checkpoint_drops_or_keeps_the_heads(tmp_path: Path, photo: Path, keep: bool) -> None:
    model = ref.build(4, uniclip=True)
    ckpt = tmp_path / "uniclip.pt"
    ref.save_original(model, ckpt)
    heads = {
        k for k in model.state_dict() if not k.startswith(("visual.", "bert.", "text_projection", "logit"))
    }
    assert any("exist" in k for k in heads) and any("content" in k for k in heads)
    result = convert_cn_clip(ckpt, tmp_path / "out", keep_heads=keep)
    assert_same_model(tmp_path / "out", model, photo)
    if not keep:
        assert result.dropped == {"training heads": len(heads)} and result.heads_file is None
        assert not (tmp_path / "out" / "training_heads.safetensors").exists()
        return
    from safetensors.torch import load_file

    assert result.heads_file is not None
    kept = load_file(str(result.heads_file))
    renamed = {k.replace("exist", "presence").replace("content", "semantic") for k in heads}
    assert set(kept) == renamed
    torch.testing.assert_close(kept["proj_ocr_presence"], model.state_dict()["proj_ocr_exist"])


def test_flash_attention_layout_is_read(tmp_path: Path, photo: Path) -> None:
    model = ref.build(5)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for i in range(2):  # BERT as cn_clip's FlashAttention models store it
        p = f"bert.encoder.layer.{i}.attention."
        for kind in ("weight", "bias"):
            qkv = [state.pop(f"{p}self.{n}.{kind}") for n in ("query", "key", "value")]
            state[f"{p}self.Wqkv.{kind}"] = torch.cat(qkv)
            state[f"{p}self.out_proj.{kind}"] = state.pop(f"{p}output.dense.{kind}")
    state = {k.replace("attn.in_proj_", "attn.Wqkv."): v for k, v in state.items()}
    assert set(normalise_flash_attention(state)) == set(model.state_dict())
    ckpt = tmp_path / "flash.pt"
    torch.save({"epoch": 1, "step": 2, "state_dict": {f"module.{k}": v for k, v in state.items()}}, ckpt)
    convert_cn_clip(ckpt, tmp_path / "out")
    assert_same_model(tmp_path / "out", model, photo)


def test_published_architectures_are_recognised_from_shapes() -> None:
    """Full-size shapes on the meta device (no memory): each published model infers to its own name."""
    for name, arch in ARCHITECTURES.items():
        shapes = ref.Shapes(
            embed_dim=arch.embed_dim,
            image_size=arch.image_size,
            patch=arch.vision_patch,
            vision_width=arch.vision_width,
            vision_layers=arch.vision_layers,
            vision_heads=arch.vision_heads,
            text_hidden=arch.text_hidden,
            text_layers=arch.text_layers,
            text_heads=arch.text_heads,
            text_intermediate=arch.text_intermediate,
            text_positions=512,
        )
        with torch.device("meta"):
            state = ref.CnClip(shapes).state_dict()
        assert infer_arch(state).name == name
    h14 = ARCHITECTURES["ViT-H-14"]
    assert (h14.vision_heads, h14.text_heads, h14.embed_dim) == (16, 16, 1024)  # 80-wide vision heads
    assert ARCHITECTURES["ViT-L-14-336"].image_size == 336
    b16 = transformers.ChineseCLIPConfig(**ARCHITECTURES["ViT-B-16"].hf_config())
    assert (b16.vision_config.num_attention_heads, b16.text_config.num_attention_heads) == (12, 12)
    assert b16.vision_config.hidden_act == "quick_gelu" and b16.projection_dim == 512


# -- bad input: one line, nothing written ------------------------------------------------------------


def _openai_layout(path: Path) -> None:
    state = {
        "visual.conv1.weight": torch.zeros(8, 3, 4, 4),
        "visual.proj": torch.zeros(8, 4),
        "transformer.resblocks.0.attn.in_proj_weight": torch.zeros(24, 8),
        "token_embedding.weight": torch.zeros(10, 8),
        "ln_final.weight": torch.zeros(8),
    }
    torch.save(
        {"epoch": 1, "name": "ViT-B-32", "state_dict": {f"module.{k}": v for k, v in state.items()}}, path
    )


def _truncated(path: Path) -> None:
    ref.save_original(ref.build(0), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _mismatched(path: Path) -> None:
    model = ref.build(0)
    state = model.state_dict()
    state["visual.transformer.resblocks.1.mlp.c_fc.weight"] = torch.zeros(100, 128)
    torch.save({"epoch": 0, "step": 0, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)


def _resnet(path: Path) -> None:
    model = ref.build(0)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("visual.")}
    state |= {
        "visual.conv1.weight": torch.zeros(32, 3, 3, 3),
        "visual.layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1),
    }
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)


def _torchscript(path: Path) -> None:
    with warnings.catch_warnings():  # torch.jit is deprecated, and still what OpenAI's CLIP .pt files are
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))


class Pickled:
    """Any class: weights_only loading refuses to import it."""


def _python_object(path: Path) -> None:
    torch.save({"epoch": 1, "state_dict": {"x": torch.zeros(1)}, "args": Pickled()}, path)


def _not_torch(path: Path) -> None:
    path.write_text("not a checkpoint at all\n" * 20)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (_openai_layout, "an OpenAI CLIP / open_clip checkpoint"),
        (_truncated, "the file is truncated or not a torch checkpoint"),
        (_mismatched, "mismatched shapes: visual.transformer.resblocks.1.mlp.c_fc.weight is (100, 128)"),
        (_resnet, "ChineseCLIPModel has no ResNet image tower"),
        (_torchscript, "a TorchScript archive"),
        (_not_torch, "the file is truncated or not a torch checkpoint"),
        (_python_object, "holds Python objects that loading with weights_only=True refuses"),
    ],
)
def test_bad_checkpoints_give_one_line_and_write_nothing(
    tmp_path: Path, write: Any, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = tmp_path / "bad.pt"
    write(ckpt)
    out = tmp_path / "out"
    with pytest.raises(DataFormatError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        convert_cn_clip(ckpt, out)
    assert "\n" not in str(info.value) and str(ckpt) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]  # no OUT_DIR, no temporary folder

    assert main(["models", "convert", "cn-clip", str(ckpt), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message.split(":")[0] in err and "\n" not in err
    assert not out.exists()


def test_named_arch_must_match_the_shapes(tmp_path: Path) -> None:
    ckpt = tmp_path / "tiny.pt"
    ref.save_original(ref.build(0), ckpt)
    with pytest.raises(DataFormatError, match=r"mismatched shapes: .* ViT-B-16 expects"):
        convert_cn_clip(ckpt, tmp_path / "out", arch="ViT-B-16")
    with pytest.raises(ConfigError, match="no ResNet image tower"):
        convert_cn_clip(ckpt, tmp_path / "out", arch="RN50")
    with pytest.raises(ConfigError, match="unknown --arch 'ViT-X'; expected one of ViT-B-16"):
        convert_cn_clip(ckpt, tmp_path / "out", arch="ViT-X")
    too_long = tmp_path / "vocab.txt"
    too_long.write_text(VOCAB_FILE.read_text(encoding="utf-8") + "[extra]\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError, match="the vocabulary has 21129 tokens but the model embeds only 21128"
    ):
        convert_cn_clip(ckpt, tmp_path / "out", vocab=too_long)
    assert not (tmp_path / "out").exists()


def test_existing_out_dir_needs_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "c.pt"
    ref.save_original(ref.build(0), ckpt)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists and is not empty; pass --overwrite"):
        convert_cn_clip(ckpt, out)
    assert (out / "keep.txt").read_text() == "mine"
    assert main(["models", "convert", "cn-clip", str(ckpt), str(out), "--overwrite", "--progress"]) == 0
    printed = capsys.readouterr().out
    assert f"clip:{out}" in printed and "architecture custom (inferred from the shapes)" in printed
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "out"]


@pytest.mark.slow
def test_full_size_vit_b_16_named_arch(tmp_path: Path, photo: Path) -> None:
    """The published ViT-B-16 (188M parameters, 224 px, 12 heads per tower) converted with --arch."""
    arch = ARCHITECTURES["ViT-B-16"]
    shapes = ref.Shapes(
        embed_dim=512,
        image_size=224,
        patch=16,
        vision_width=768,
        vision_layers=12,
        vision_heads=12,
        text_hidden=768,
        text_layers=12,
        text_heads=12,
        text_intermediate=3072,
        text_positions=512,
    )
    model = ref.build(6, shapes)
    ckpt = tmp_path / "clip_cn_vit-b-16.pt"
    ref.save_original(model, ckpt)
    result = convert_cn_clip(ckpt, tmp_path / "out", arch="ViT-B-16")
    # vision 3 + 2 + 12 x 16 + 2 + projection; text 5 + 12 x 16 + projection; logit scale
    assert result.arch == arch and not result.inferred and result.tensors == 200 + 198 + 1
    encoder = create_encoder(f"clip:{tmp_path / 'out'}", device="cpu", max_length=52)
    assert encoder.config.image_size == 224 and encoder.dim == 512
    tokenizer = ref.WordPiece(VOCAB_FILE)
    with torch.no_grad():
        want_image = model.encode_image(ref.pixels(Image.open(photo), 224)[None]).numpy()
        want_text = model.encode_text(tokenizer(TEXTS, context=52)).numpy()
    np.testing.assert_allclose(
        encoder.encode_image([load_image(photo)], normalize=False), want_image, atol=1e-4
    )
    np.testing.assert_allclose(encoder.encode_text(TEXTS, normalize=False), want_text, atol=1e-4)
