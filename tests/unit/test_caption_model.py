"""The ClipCap network: configs, mapping networks, the caption loss (against transformers' own shifted
cross-entropy), padding, the bilingual BPE tokenizer and decoding options."""

from __future__ import annotations

import pytest
import torch

from memesearch.caption.config import CaptionerConfig, DecoderConfig, MapperConfig
from memesearch.caption.decoder import build_decoder, special_ids, train_tokenizer
from memesearch.caption.decoding import DecodeConfig
from memesearch.caption.mapping import build_mapper
from memesearch.caption.model import ClipCapModel, encode_captions, pad_rows
from memesearch.data.captions import item_captions
from memesearch.data.records import Item
from memesearch.errors import ConfigError

TEXTS = ["grinning face", "嘿嘿", "face with tears of joy", "笑哭了", "red heart", "红心"] * 5


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return train_tokenizer(TEXTS, vocab_size=320)


def tiny_model(tokenizer, kind: str = "mlp", languages: tuple[str, ...] = ("en", "zh")) -> ClipCapModel:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    cfg = CaptionerConfig(
        encoder="tiny-clip:0",
        feature_dim=12,
        mapper=MapperConfig(kind=kind, prefix_length=3, clip_length=2, layers=1, heads=2),  # type: ignore[arg-type]
        decoder=DecoderConfig(n_embd=16, n_layer=1, n_head=2, vocab_size=320, dropout=0.0),
        languages=languages,
    )
    return ClipCapModel(cfg, build_decoder(cfg.decoder, tokenizer)).eval()


def test_config_round_trip_and_errors() -> None:
    cfg = CaptionerConfig(encoder="clip:/m", mapper=MapperConfig(kind="transformer"), languages=("en", "zh"))
    assert CaptionerConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.prefix_tokens == cfg.mapper.prefix_length + 1
    assert (
        CaptionerConfig().prefix_tokens == CaptionerConfig().mapper.prefix_length
    )  # one language: no vector
    with pytest.raises(ConfigError, match="unknown keys"):
        CaptionerConfig.from_dict({"mapper": {"kinds": "mlp"}})
    with pytest.raises(ConfigError, match="n_head"):
        DecoderConfig(n_embd=10, n_head=3)
    with pytest.raises(ConfigError, match="languages"):
        CaptionerConfig(languages=("en", "en"))


def test_item_captions_by_language() -> None:
    item = Item(
        id="x", captions=["red heart", "红心", "blue"], meta={"generated_captions": [{"text": "blue"}]}
    )
    assert item_captions(item, ("en", "zh")) == [("red heart", "en"), ("红心", "zh")]  # script decides
    tagged = Item(id="y", captions=["ok", "好"], meta={"caption_langs": ["zh", "en"]})
    assert item_captions(tagged, ("en",)) == [("好", "en")]  # the dataset's own labels win


@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_mappers_are_batch_first_and_keep_images_apart(kind: str) -> None:
    torch.manual_seed(0)
    mapper = build_mapper(
        MapperConfig(kind=kind, prefix_length=4, clip_length=3, layers=2, heads=2), 12, 8
    ).eval()  # type: ignore[arg-type]
    x = torch.randn(5, 12)
    out = mapper(x)
    assert out.shape == (5, 4, 8)
    # the seed fed (B, D) to a transformer as ONE sequence, so images attended to each other: not here
    assert torch.allclose(mapper(x[:1]), out[:1], atol=1e-6)


def test_tokenizer_covers_both_languages_and_is_deterministic(tokenizer) -> None:  # type: ignore[no-untyped-def]
    for text in ["grinning face", "笑哭了", "红心 heart", "never seen 没见过"]:
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    again = train_tokenizer(TEXTS, vocab_size=320)
    assert again.get_vocab() == tokenizer.get_vocab()
    eos, pad = special_ids(tokenizer)
    assert (pad, eos) == (0, 1)


def test_encode_captions_appends_the_end_token_and_truncates(tokenizer) -> None:  # type: ignore[no-untyped-def]
    eos, _ = special_ids(tokenizer)
    rows = encode_captions(tokenizer, ["face with tears of joy", "红心"], max_tokens=3)
    assert all(r[-1] == eos and len(r) <= 3 for r in rows)
    ids, mask = pad_rows([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


@pytest.mark.parametrize(("kind", "languages"), [("mlp", ("en", "zh")), ("transformer", ("en",))])
@torch.no_grad()
def test_caption_loss_equals_transformers_shifted_cross_entropy(tokenizer, kind, languages) -> None:  # type: ignore[no-untyped-def]
    """Reference equivalence: our loss = HF's labels loss with the prefix masked (-100) and the FIRST
    caption token a target (predicted from the last prefix position), on raw logits."""
    model = tiny_model(tokenizer, kind, languages)
    _, pad = special_ids(tokenizer)
    ids, mask = pad_rows(encode_captions(tokenizer, ["grinning face", "红心"], 16), pad)
    feats = torch.randn(2, 12)
    lang = model.language_ids(["en", "zh"] if len(languages) > 1 else None, 2)
    nll, count = model.caption_nll(feats, ids, mask, lang)
    assert count.tolist() == mask.sum(1).tolist()
    for i in range(2):  # one caption at a time: no padding anywhere
        n = int(mask[i].sum())
        prefix = model.prefix(feats[i : i + 1], None if lang is None else lang[i : i + 1])
        embeds = torch.cat([prefix, model.decoder.get_input_embeddings()(ids[i : i + 1, :n])], 1)
        labels = torch.cat([torch.full((1, prefix.shape[1]), -100), ids[i : i + 1, :n]], 1)
        ref = model.decoder(inputs_embeds=embeds, labels=labels).loss * n
        assert float(nll[i]) == pytest.approx(float(ref), rel=1e-5)


@torch.no_grad()
def test_padding_is_not_learnt(tokenizer) -> None:  # type: ignore[no-untyped-def]
    model = tiny_model(tokenizer)
    _, pad = special_ids(tokenizer)
    rows = encode_captions(tokenizer, ["red heart", "face with tears of joy"], 16)
    feats = torch.randn(2, 12)
    ids, mask = pad_rows(rows, pad)
    alone_ids, alone_mask = pad_rows(rows[:1], pad)
    batched, _ = model.caption_nll(feats, ids, mask)
    alone, _ = model.caption_nll(feats[:1], alone_ids, alone_mask)
    assert float(batched[0]) == pytest.approx(float(alone[0]), rel=1e-5)
    junk = ids.clone()
    junk[mask == 0] = 7  # whatever sits in the padding does not count
    assert torch.allclose(model.caption_nll(feats, junk, mask)[0], batched)


def test_unknown_language_is_refused(tokenizer) -> None:  # type: ignore[no-untyped-def]
    model = tiny_model(tokenizer)
    with pytest.raises(ValueError, match="fr"):
        model.language_ids("fr", 1)


def test_decode_config_checks() -> None:
    assert DecodeConfig().method == "greedy"
    assert DecodeConfig(num_beams=4).method == "beam"
    assert DecodeConfig(sample=True, num_return=3).method == "sample"
    with pytest.raises(ConfigError, match="exclude"):
        DecodeConfig(sample=True, num_beams=2)
    with pytest.raises(ConfigError, match="beams"):
        DecodeConfig(num_return=3)
    with pytest.raises(ConfigError, match="temperature"):
        DecodeConfig(sample=True, temperature=0)
