"""Audit: no model, checkpoint or cache load runs pickled code.

Statically, every ``torch.load`` in the package passes ``weights_only=True`` and every ``np.load``
``allow_pickle=False``; ``pickle.loads`` appears only in the Ray engine, which unpickles what its own
processes pickled. Then a real pickle payload (it would create a file when unpickled) is refused by the
trainer-state loader and by ``transformers.from_pretrained`` (the decoder and CLIP folders), and the file
is never created.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "memesearch"


class Payload:
    """Unpickling this opens (creates) ``marker``: code execution, if a loader allowed it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _calls(pattern: str) -> list[tuple[str, str]]:
    found = []
    for path in SRC.rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            code = line.split("#", 1)[0]
            if re.search(pattern, code) and not code.strip().startswith(("``", '"', "'")):
                found.append((str(path.relative_to(SRC)), code.strip()))
    return found


def test_every_load_in_the_package_refuses_pickles() -> None:
    torch_loads = _calls(r"\btorch\.load\(")
    assert torch_loads, "the audit found no torch.load at all: the pattern is wrong"
    assert all("weights_only=True" in code for _, code in torch_loads), torch_loads
    np_loads = _calls(r"\bnp\.load\(|\bnumpy\.load\(")
    assert np_loads and all("allow_pickle=False" in code for _, code in np_loads), np_loads
    unpickles = {file for file, _ in _calls(r"\bpickle\.loads?\(|\bdill\.|\bjoblib\.load")}
    assert unpickles <= {"ingest/ray_engine.py"}, unpickles


def test_trainer_state_with_a_pickle_payload_is_refused(tmp_path: Path) -> None:
    import torch

    from memesearch.errors import ConfigError
    from memesearch.train.checkpoint import STATE_FILE, load_trainer_state

    marker = tmp_path / "pwned"
    torch.save({"format": 1, "optimizer": Payload(marker)}, tmp_path / STATE_FILE)
    with pytest.raises(ConfigError, match="Python objects"):
        load_trainer_state(tmp_path)
    assert not marker.exists()


def test_transformers_weights_with_a_pickle_payload_are_refused(tmp_path: Path) -> None:
    import torch
    import transformers

    folder = tmp_path / "model"
    transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=16, n_positions=8).save_pretrained(
        folder
    )
    marker = tmp_path / "pwned"
    torch.save({"transformer.wte.weight": Payload(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(Exception, match=r"(?i)weights_only|unpickl|unsupported global"):
        transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    assert not marker.exists()
