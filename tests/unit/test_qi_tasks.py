"""Masks, query independence and multi-positive groups of the clip4meme-qi / ief Tasks (tiny-clip, CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from memesearch.errors import ConfigError
from memesearch.train.losses import stable_group_id
from memesearch.train.task import create_task
from memesearch.train.tasks.clip4meme import Clip4MemeQI, Clip4MemeQITask
from memesearch.train.tasks.ief import IEFModel, IEFTask
from memesearch.train.tasks.samples import load_dataset, positive_pairs
from memesearch.train.tasks.toy_dataset import write_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy"))


def _qi(toy: Path, **extra: object) -> tuple[Clip4MemeQITask, Clip4MemeQI]:
    task, _ = create_task(
        "clip4meme-qi", {"dataset": str(toy), "model_name": "tiny-clip:0", "max_words": 16, **extra}
    )
    assert isinstance(task, Clip4MemeQITask)
    model = task.build_model()
    assert isinstance(model, Clip4MemeQI)
    model.eval()
    return task, model


def _items(n: int = 3) -> dict[str, object]:
    gen = torch.Generator().manual_seed(0)
    return {
        "image": torch.randn(n, 3, 32, 32, generator=gen),
        "captions": [["a red circle"], [], ["short"]][:n],
        "context": [["a red circle"], [], ["short"]][:n],  # captions, then OCR: what the co-attention reads
        "emotions": [["happy"], ["sad", "meme"], []][:n],
        "query": ["happy red circle", "x", "y"][:n],
        "group": torch.tensor([stable_group_id(t) for t in ["happy red circle", "x", "y"][:n]]),
    }


def test_caption_padding_gets_no_attention_and_does_not_change_the_item(toy: Path) -> None:
    task, model = _qi(toy)
    batch = _items()
    inputs = task.item_inputs(model, batch)
    mask = inputs["caption_mask"]
    assert mask is not None and inputs["caption"] is not None
    # "short" -> bos + 5 bytes + eos = 7 real tokens of 16; the item without caption has none
    assert mask.sum(dim=1).tolist() == [14, 0, 7]
    out = model.encode_item(batch["image"], **inputs)  # type: ignore[arg-type]
    assert out.attention is not None
    assert torch.all(out.attention[~mask] == 0)
    assert torch.allclose(out.attention[2].sum(), torch.tensor(1.0), atol=1e-5)
    # garbage in the padded caption positions changes nothing
    noisy = inputs["caption"].clone()
    noisy[~mask] = torch.randn(int((~mask).sum()), noisy.shape[-1]) * 100
    out2 = model.encode_item(batch["image"], **{**inputs, "caption": noisy})  # type: ignore[arg-type]
    torch.testing.assert_close(out2.embedding, out.embedding, rtol=0, atol=0)


def test_longer_padding_from_the_tokenizer_does_not_change_the_item(toy: Path) -> None:
    task, model = _qi(toy, max_words=16)
    _, model32 = _qi(toy, max_words=32)
    model32.load_state_dict(model.state_dict())
    task32, _ = create_task(
        "clip4meme-qi", {"dataset": str(toy), "model_name": "tiny-clip:0", "max_words": 32}
    )
    assert isinstance(task32, Clip4MemeQITask)
    batch = _items()
    a = task.encode_items(model, batch).embedding
    b = task32.encode_items(model32, batch).embedding
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_items_without_emotions_get_no_emotion_term(toy: Path) -> None:
    task, model = _qi(toy)
    inputs = task.item_inputs(model, _items())
    assert inputs["emotion_mask"] is not None and inputs["emotion"] is not None
    assert inputs["emotion_mask"].tolist() == [True, True, False]
    assert torch.all(inputs["emotion"][2] == 0)


def test_item_embedding_does_not_depend_on_its_query(toy: Path) -> None:
    task, model = _qi(toy)
    batch = _items()
    other = {**batch, "query": ["something else", "entirely", "different"]}
    a = task.embed_batch(model, batch)
    b = task.embed_batch(model, other)
    torch.testing.assert_close(a["item"], b["item"], rtol=0, atol=0)
    assert not torch.allclose(a["query"], b["query"])


def test_ief_item_tokens_do_not_depend_on_the_query_and_padding_is_masked(toy: Path) -> None:
    task, _ = create_task("ief", {"dataset": str(toy), "model_name": "tiny-clip:0", "max_words": 16})
    assert isinstance(task, IEFTask)
    model = task.build_model()
    assert isinstance(model, IEFModel)
    model.eval()
    batch = _items()
    a = task.embed_batch(model, batch)
    b = task.embed_batch(model, {**batch, "query": ["q1", "q2", "q3"]})
    torch.testing.assert_close(a["item"], b["item"], rtol=0, atol=0)
    # image tokens (1 + 16 patches) always valid, caption padding not
    assert a["item_mask"][:, :17].all() and a["item_mask"][1, 17:].sum() == 0
    scores = model.wti(a["query"], a["query_mask"], a["item"], a["item_mask"])
    item = a["item"].clone()
    pad = ~a["item_mask"].bool()
    item[pad] = torch.randn(int(pad.sum()), item.shape[-1])
    torch.testing.assert_close(model.wti(a["query"], a["query_mask"], item, a["item_mask"]), scores)
    assert scores.shape == (3, 3) and bool((scores.abs() <= 1 + 1e-5).all())


def test_multi_positive_groups_come_from_identical_query_texts(toy: Path) -> None:
    split = load_dataset(toy)["train"]
    pairs = positive_pairs(split)
    assert len(pairs) == sum(1 for q in split.queries for g in q.qrels.values() if g >= 1)
    task, _ = create_task("clip4meme-qi", {"dataset": str(toy), "model_name": "tiny-clip:0"})
    ds = task.train_dataset()
    assert len(ds) == len(pairs)  # type: ignore[arg-type]
    groups: dict[int, set[str]] = {}
    for i in range(len(ds)):  # type: ignore[arg-type]
        sample = ds[i]
        groups.setdefault(sample["group"], set()).add(sample["query"])
    assert all(len(texts) == 1 for texts in groups.values())  # one text per group
    dup = split.query("train-q-dup")
    assert dup.text == split.queries[0].text
    texts = [q.text for q, _ in pairs]
    assert len(set(texts)) == len(groups) < len(split.queries)
    assert texts.count(dup.text) == len(split.queries[0].relevant()) + len(dup.relevant())


def test_config_requires_dataset_model_and_a_validation_split(toy: Path) -> None:
    with pytest.raises(ConfigError, match=r"task_config\.dataset"):
        create_task("clip4meme-qi", {"model_name": "tiny-clip:0"})
    with pytest.raises(ConfigError, match=r"task_config\.model_name"):
        create_task("clip4meme-qi", {"dataset": str(toy)})
    with pytest.raises(ConfigError, match="test split"):
        create_task("ief", {"dataset": str(toy), "model_name": "tiny-clip:0", "val_split": "test"})
