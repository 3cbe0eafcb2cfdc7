"""The ``clipcap`` Task through the generic loop: a tiny random CLIP + tiny GPT-2 learns a handful of
captions until greedy decoding reproduces them exactly, in both languages; then decoding (beam, sampling),
save -> reload, loading runs and checkpoints, and a decoder folder written by ``save_pretrained``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from memesearch.caption import DecodeConfig, load_captioner, new_captioner
from memesearch.caption.config import CaptionerConfig, DecoderConfig
from memesearch.caption.decoder import special_ids, train_tokenizer
from memesearch.data.formats import write_dataset
from memesearch.data.records import Dataset, Item, Split
from memesearch.errors import ConfigError
from memesearch.models.encoders.base import EncoderLoadError
from memesearch.train.checkpoint import find_checkpoint
from memesearch.train.config import OptimConfig, TrainConfig
from memesearch.train.loop import train

CAPTIONS = [
    ("a red square", "红色方块"),
    ("a green circle", "绿色圆圈"),
    ("a blue star", "蓝色星星"),
    ("two yellow dogs", "两只黄狗"),
]
CAPTIONER = {
    "encoder": "tiny-clip:0",
    "mapper": {"kind": "mlp", "prefix_length": 2},
    "decoder": {"n_embd": 32, "n_layer": 2, "n_head": 2, "vocab_size": 300, "dropout": 0.0},
    "languages": ["en", "zh"],
}


def make_dataset(root: Path, copies: int = 8) -> Path:
    """Four random-noise images, each with an English and a Chinese caption; the training split lists each
    image ``copies`` times (more steps per epoch, fewer checkpoints), val the four once (memorisation)."""
    rng = np.random.default_rng(0)
    items = []
    for i, (en, zh) in enumerate(CAPTIONS):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"img{i}.png")
        items.append(
            Item(id=f"i{i}", path=f"img{i}.png", captions=[en, zh], meta={"caption_langs": ["en", "zh"]})
        )
    train_items = [replace(it, id=f"{it.id}-{c}") for c in range(copies) for it in items]
    splits = {"train": Split("train", items=train_items), "val": Split("val", items=items)}
    return write_dataset(Dataset(name="tiny", splits=splits, root=root), root / "ds")


def train_config(root: Path, **changes: Any) -> TrainConfig:
    values: dict[str, Any] = {
        "task": "clipcap",
        "task_config": {
            "dataset": str(root / "ds"),
            "cache_dir": str(root / "cache"),
            "captioner": CAPTIONER,
        },
        "epochs": 15,
        "batch_size": 8,
        "validate_every": 15,
        "log_every": 10,
        "seed": 0,
        "device": "cpu",
        "output_dir": str(root / "runs"),
        "run_name": "tiny",
        "optim": OptimConfig(lr=5e-3, weight_decay=0.0, schedule="constant"),
    }
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread; on a busy 2-core machine two threads spin-wait (13x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    root = tmp_path_factory.mktemp("clipcap")
    make_dataset(root)
    result = train(train_config(root))
    return root, result


def images(root: Path) -> list[Path]:
    return [root / f"img{i}.png" for i in range(len(CAPTIONS))]


def test_training_reproduces_the_captions_exactly(trained: tuple[Path, Any]) -> None:
    root, result = trained
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [x["loss"] for x in lines if x.get("kind") == "train"]
    assert losses[-1] < 0.1 * losses[0]  # the loss falls
    assert result.val_metrics["exact"] == 1.0
    captioner = load_captioner(result.run_dir, device="cpu")
    eos, pad = special_ids(captioner.tokenizer)
    for lang_index, lang in enumerate(("en", "zh")):
        out = captioner.caption(images(root), DecodeConfig(lang=lang))
        # first token right (the whole caption is), ends with the end token, no padding learnt
        assert [c[0].text for c in out] == [pair[lang_index] for pair in CAPTIONS]
        assert all(c[0].finished and pad not in c[0].tokens and eos not in c[0].tokens for c in out)
        assert all(c[0].lang == lang for c in out)


def test_beam_search_equals_greedy_at_width_one_and_sorts_by_score(trained: tuple[Path, Any]) -> None:
    root, result = trained
    captioner = load_captioner(result.run_dir, device="cpu")
    greedy = captioner.caption(images(root), DecodeConfig())
    width_one = captioner.caption(images(root), DecodeConfig(num_beams=1))
    assert [(c[0].text, c[0].score) for c in greedy] == [(c[0].text, c[0].score) for c in width_one]
    beams = captioner.caption(images(root), DecodeConfig(num_beams=4, num_return=3, length_penalty=0.5))
    for per_image, best in zip(beams, greedy, strict=True):
        assert len(per_image) == 3
        scores = [c.score for c in per_image]
        assert scores == sorted(scores, reverse=True)
        assert len({c.text for c in per_image}) == 3
        assert per_image[0].text == best[0].text  # the memorised caption is also the best beam


def test_sampling_is_reproducible_with_a_seed(trained: tuple[Path, Any]) -> None:
    root, result = trained
    captioner = load_captioner(result.run_dir, device="cpu")
    hot = DecodeConfig(sample=True, temperature=3.0, top_p=0.95, num_return=4, seed=7)
    a = captioner.caption(images(root)[:2], hot)
    b = captioner.caption(images(root)[:2], hot)
    assert [[c.text for c in x] for x in a] == [[c.text for c in x] for x in b]
    assert all(len(x) == 4 for x in a)
    assert len({c.text for x in a for c in x}) > 2  # a hot temperature really samples


def test_save_reload_gives_identical_captions(trained: tuple[Path, Any], tmp_path: Path) -> None:
    root, result = trained
    captioner = load_captioner(find_checkpoint(result.run_dir, "last"), device="cpu")
    saved = captioner.save(tmp_path / "saved")
    assert {p.name for p in saved.iterdir()} >= {"captioner.json", "model.safetensors", "tokenizer"}
    again = load_captioner(saved, device="cpu")
    assert again.version == load_captioner(saved, device="cpu").version
    for lang in ("en", "zh"):
        beam = DecodeConfig(num_beams=3, num_return=2, lang=lang)
        first = captioner.caption(images(root), beam)
        second = again.caption(images(root), beam)
        assert [[(c.text, round(c.score, 5)) for c in x] for x in first] == [
            [(c.text, round(c.score, 5)) for c in x] for x in second
        ]


def test_unknown_captioner_names_are_explained(tmp_path: Path) -> None:
    from memesearch.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="starter-caption"):
        load_captioner(tmp_path / "nothing-here")


def test_decoder_from_a_save_pretrained_folder_offline(
    trained: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny GPT-2 written by save_pretrained loads through the decoder's folder/hub-id path with
    HF_HUB_OFFLINE=1; a hub id that is not in the cache fails with one clear sentence; a frozen decoder
    does not move in training."""
    from transformers import GPT2Config, GPT2LMHeadModel

    root, _ = trained
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = train_tokenizer([t for pair in CAPTIONS for t in pair] * 3, vocab_size=300)
    eos, _ = special_ids(tok)
    gpt2 = GPT2LMHeadModel(
        GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=32, eos_token_id=eos)
    )
    folder = tmp_path / "gpt2-tiny"
    gpt2.save_pretrained(folder)
    tok.save_pretrained(folder)
    cfg = CaptionerConfig(
        encoder="tiny-clip:0",
        feature_dim=32,
        decoder=DecoderConfig(source=str(folder)),
        max_caption_tokens=16,
    )
    with pytest.raises(ConfigError, match="positions"):  # 10 prefix + 32 tokens > 32 positions
        new_captioner(replace(cfg, max_caption_tokens=32))
    captioner = new_captioner(cfg)
    assert torch.equal(captioner.model.decoder.lm_head.weight, gpt2.lm_head.weight)
    assert len(captioner.caption(images(root)[:1])[0]) == 1
    with pytest.raises(EncoderLoadError, match="HF_HUB_OFFLINE"):
        new_captioner(replace(cfg, decoder=DecoderConfig(source="gpt2-nope")))

    captioner_cfg = {
        **CAPTIONER,
        "decoder": {"source": str(folder), "freeze": True},
        "max_caption_tokens": 16,
    }
    result = train(
        train_config(
            root,
            task_config={
                "dataset": str(root / "ds"),
                "cache_dir": str(root / "cache"),
                "captioner": captioner_cfg,
            },
            epochs=1,
            run_name="frozen",
        )
    )
    weights = load_file(str(find_checkpoint(result.run_dir, "last") / "model.safetensors"))
    assert torch.equal(
        weights["decoder.transformer.h.0.mlp.c_fc.weight"], gpt2.transformer.h[0].mlp.c_fc.weight
    )
    reloaded = load_captioner(result.run_dir, device="cpu")  # a run with a folder decoder loads on its own
    assert reloaded.config.decoder.source == str(folder)


def test_export_and_evaluate_captions(trained: tuple[Path, Any], tmp_path: Path) -> None:
    """``memesearch export`` of a clipcap run writes a captioner folder with metrics measured through it;
    ``memesearch evaluate --captions`` reports the same numbers."""
    from memesearch.cli.main import main

    root, result = trained
    target = tmp_path / "exported"
    assert main(["export", str(result.run_dir), "--out", str(target), "--dataset", str(root / "ds")]) == 0
    metrics = json.loads((target / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["splits"]) == {"val"}  # the splits of the dataset among val, test-seen, test
    langs = metrics["splits"]["val"]["languages"]
    assert langs["en"]["exact"] == 1.0 and langs["zh"]["exact"] == 1.0
    assert langs["en"]["BLEU-1"] == pytest.approx(1.0) and langs["en"]["i2t R@1"] == pytest.approx(1.0)
    described = json.loads((target / "captioner.json").read_text(encoding="utf-8"))
    assert described["trained_on"]["which"] == "best" and described["trained_on"]["task"] == "clipcap"
    out = tmp_path / "report"
    args = ["evaluate", "--captions", "--dataset", str(root / "ds"), "--split", "val", "--model", str(target)]
    assert main([*args, "--out", str(out)]) == 0
    report = json.loads((out / "caption_metrics.json").read_text(encoding="utf-8"))[0]
    assert report["languages"]["zh"]["CIDEr-D"] == pytest.approx(langs["zh"]["CIDEr-D"])
    assert "| zh | 4 |" in (out / "caption_metrics.md").read_text(encoding="utf-8")
