"""The starter's emotion head: the shipped file, the threshold rule, deterministic tags, the enricher."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memesearch.data.emotions import EMOTION_WORDS
from memesearch.enrich.enrichers import EMOTION_SOURCE_KEY, EmotionEnricher, EnrichContext, EnrichInput
from memesearch.models.starter.emotion_head import (
    CONFIG_FILE,
    FEATURES,
    EmotionHead,
    head_dir,
    head_for_encoder,
    image_features,
)
from memesearch.train.emotion_head import choose_thresholds, evaluate


@pytest.fixture(scope="module")
def starter():  # type: ignore[no-untyped-def]
    from memesearch.models import create_encoder

    return create_encoder("starter", device="cpu")


def seeded_images(n: int, seed: int = 7) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(n)]


def test_shipped_head_thresholds_come_from_the_shipped_file(starter) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((head_dir() / CONFIG_FILE).read_text(encoding="utf-8"))
    head = head_for_encoder(starter)
    assert head is not None, "the shipped head must fit the shipped starter weights"
    assert head.emotions == EMOTION_WORDS == tuple(data["emotions"])
    assert head.thresholds == data["thresholds"]
    assert head.active == tuple(e for e, t in data["thresholds"].items() if t is not None)
    assert head.encoder_sha256 == starter.config.extra["weights_sha256"] == data["encoder_sha256"]
    assert head.info["features"] == FEATURES and "threshold_rule" in head.info


def test_head_is_refused_for_another_image_tower(starter) -> None:  # type: ignore[no-untyped-def]
    from memesearch.models import create_encoder

    assert head_for_encoder(create_encoder("tiny-clip:0")) is None


def test_tags_on_a_seeded_set_are_deterministic(starter) -> None:  # type: ignore[no-untyped-def]
    head = EmotionHead.load()
    images = seeded_images(6)
    first = image_features(starter, images)
    second = image_features(starter, seeded_images(6))
    assert first.shape == (6, head.dim)
    np.testing.assert_array_equal(first, second)
    assert head.tag(first) == head.tag(second)
    # every tag is an active emotion at or above its own threshold, best first, at most top_k
    probs = head.probabilities(first)
    for row, tags in zip(probs, head.tag(first, top_k=1), strict=True):
        assert len(tags) <= 1
        for e, p in tags:
            t = head.thresholds[e]
            assert t is not None and p >= t - 1e-4 and abs(p - row[head.emotions.index(e)]) < 1e-4


def test_threshold_rule_is_the_lowest_score_with_enough_precision() -> None:
    emotions = ("a", "b")
    # scores of a: 0.9 (pos) 0.8 (neg) 0.7 (pos) 0.6 (neg) 0.5 (neg); b: no cut reaches 0.6 with 2 hits
    probs = np.array([[0.9, 0.9], [0.8, 0.8], [0.7, 0.1], [0.6, 0.2], [0.5, 0.3]])
    gold = [["a", "b"], [], ["a"], [], []]
    t = choose_thresholds(probs, gold, emotions, min_precision=0.6, min_hits=2)
    assert t == {"a": 0.7, "b": None}  # at 0.7: 2 of 3 tags right (0.667); at 0.6: 2 of 4 (0.5)
    head = EmotionHead(emotions, np.eye(2, 3, dtype=np.float32), np.zeros(2, np.float32), t)
    res = evaluate(head, np.array([[5.0, 0, 0], [0, 5.0, 0], [-5.0, 0, 0]]), [["a"], ["b"], []])
    assert res["per_emotion"]["a"]["correct"] == 1 and res["per_emotion"]["b"]["tagged"] == 0
    assert res["precision"] == 1.0 and res["recall"] == 0.5


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    head = EmotionHead(
        EMOTION_WORDS,
        rng.normal(size=(len(EMOTION_WORDS), 8)).astype(np.float32),
        np.zeros(len(EMOTION_WORDS), np.float32),
        {"happy": 0.5},
        "abc",
        {"features": FEATURES},
    )
    loaded = EmotionHead.load(head.save(tmp_path / "h"))
    np.testing.assert_array_equal(loaded.weight, head.weight)
    assert loaded.thresholds["happy"] == 0.5 and loaded.thresholds["sad"] is None
    assert loaded.version == head.version


def always_happy(dim: int) -> EmotionHead:
    """A head that tags every image "happy" (bias 5, threshold 0.5): makes the enricher's routing visible."""
    bias = np.full(len(EMOTION_WORDS), -5.0, np.float32)
    bias[EMOTION_WORDS.index("happy")] = 5.0
    return EmotionHead(
        EMOTION_WORDS, np.zeros((len(EMOTION_WORDS), dim), np.float32), bias, {"happy": 0.5}, "x"
    )


def test_enricher_uses_the_head_only_for_items_without_text(starter) -> None:  # type: ignore[no-untyped-def]
    from memesearch.data.records import OCRLine

    head = always_happy(EmotionHead.load().dim)
    enricher = EmotionEnricher(starter, head=head)
    frames = seeded_images(2)
    silent = EnrichInput(sha256="a" * 64, media="image", frames=[frames[0]])
    worded = EnrichInput(
        sha256="b" * 64,
        media="image",
        frames=[frames[1]],
        ocr=[OCRLine(text="我太难过了，想哭", score=0.99, box=(0, 0, 10, 10))],
    )
    assert enricher.wants(silent) and enricher.wants(worded)
    out = enricher.enrich([silent, worded], EnrichContext(starter))
    assert out[0]["emotions"][0][0] == "happy" and out[0]["meta"] == {EMOTION_SOURCE_KEY: "image"}
    assert "meta" not in out[1] and all(e != "happy" for e, _ in out[1]["emotions"])
    # no head (another tower, or turned off): text-less items are not wanted at all
    assert not EmotionEnricher(starter, head=None).wants(silent)
    assert "image=off" in EmotionEnricher(starter, head=None).version
