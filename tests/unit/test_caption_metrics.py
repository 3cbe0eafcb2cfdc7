"""Caption metrics against values worked out by hand (each test says how), plus oracle checks of the LCS."""

from __future__ import annotations

import itertools
import math

import pytest

from memesearch.eval.caption_metrics import (
    _lcs,
    bleu,
    caption_scores,
    caption_tokens,
    cider_d,
    rouge_l,
)


def toks(text: str) -> list[str]:
    return text.split()


def test_tokens_split_han_characters_and_drop_punctuation() -> None:
    assert caption_tokens("Face with Tears-of-Joy!") == ["face", "with", "tears", "of", "joy"]
    assert caption_tokens("笑哭了，OK") == ["笑", "哭", "了", "ok"]
    assert caption_tokens("ＡＢＣ 123") == ["abc", "123"]  # NFKC folds full-width letters


def test_bleu_clips_counts_papineni_example() -> None:
    # Papineni et al. 2002, example 2: "the" x7 against two references. The largest count of "the" in one
    # reference is 2, so the clipped unigram precision is 2/7. The closest reference length is 7 (ref 2),
    # equal to the candidate's, so there is no brevity penalty: BLEU-1 = 2/7; no bigram matches.
    cand = toks("the the the the the the the")
    refs = [toks("the cat is on the mat"), toks("there is a cat on the mat")]
    b = bleu([cand], [refs])
    assert b[0] == pytest.approx(2 / 7)
    assert b[1:] == [0.0, 0.0, 0.0]


def test_bleu_brevity_penalty_and_geometric_mean() -> None:
    # candidate "the cat" (2 tokens) vs reference "the cat sat" (3): p1 = 2/2, p2 = 1/1, BP = exp(1 - 3/2).
    b = bleu([toks("the cat")], [[toks("the cat sat")]], max_n=2)
    bp = math.exp(1 - 3 / 2)
    assert b == pytest.approx([bp, bp])
    # two candidates pooled (corpus level): "a b c" vs "a b d" and "x y" vs "x y":
    # p1 = (2 + 2) / (3 + 2), p2 = (1 + 1) / (2 + 1); lengths equal -> BP 1; BLEU-2 = sqrt(p1 * p2).
    b2 = bleu([toks("a b c"), toks("x y")], [[toks("a b d")], [toks("x y")]], max_n=2)
    assert b2[0] == pytest.approx(4 / 5)
    assert b2[1] == pytest.approx(math.sqrt(4 / 5 * 2 / 3))


def test_bleu_closest_reference_length_ties_to_the_shorter() -> None:
    # candidate of 3 tokens, references of 2 and 4 tokens: both 1 away, the shorter (2) counts: c > r, BP 1
    b = bleu([toks("a b c")], [[toks("a b"), toks("a b c d")]], max_n=1)
    assert b[0] == pytest.approx(1.0)


def test_rouge_l_hand_values() -> None:
    # Lin 2004's example: LCS("police killed the gunman", "police kill the gunman") = 3, P = R = F = 3/4
    assert rouge_l(toks("police killed the gunman"), [toks("police kill the gunman")]) == pytest.approx(0.75)
    # P = 2/2 (LCS 2 of a 2-token candidate), R = 2/4: F = (1 + 1.44) * 1 * 0.5 / (0.5 + 1.44 * 1)
    assert rouge_l(toks("a b"), [toks("a x b y")]) == pytest.approx(2.44 * 0.5 / 1.94)
    # P and R are maximised over references separately (the COCO toolkit's rule)
    got = rouge_l(toks("a b c"), [toks("a b c d e f"), toks("a z")])
    p, r = 3 / 3, max(3 / 6, 1 / 2)
    assert got == pytest.approx(2.44 * p * r / (r + 1.44 * p))
    assert rouge_l([], [toks("a")]) == 0.0


def _lcs_naive(a: list[str], b: list[str]) -> int:
    for size in range(min(len(a), len(b)), 0, -1):
        subs = set(itertools.combinations(b, size))
        if any(c in subs for c in itertools.combinations(a, size)):
            return size
    return 0


@pytest.mark.parametrize("seed", range(20))
def test_lcs_matches_brute_force(seed: int) -> None:
    import random

    rng = random.Random(seed)
    a = [rng.choice("abc") for _ in range(rng.randint(0, 7))]
    b = [rng.choice("abc") for _ in range(rng.randint(0, 7))]
    assert _lcs(a, b) == _lcs_naive(a, b)


def test_cider_d_hand_values() -> None:
    # Two images, one reference each: A "a b", B "a c". "a" is in both images' references, so its idf is
    # log 2 - log 2 = 0; "b", "c", "a b", "a c" have idf log 2. A candidate equal to its reference has cosine
    # 1 for n = 1, 2 and no 3-/4-grams (0), length penalty 1: CIDEr-D = 10 * (1 + 1 + 0 + 0) / 4 = 5.
    mean, per = cider_d([toks("a b"), toks("a c")], [[toks("a b")], [toks("a c")]])
    assert per == pytest.approx([5.0, 5.0])
    assert mean == pytest.approx(5.0)
    # Candidate "a b b" for A: unigram vector (a: 0, b: 2 log2) vs reference (b: log2): the clipped dot is
    # min(2l, l) * l = l^2 over |c| |r| = 2l * l -> 1/2; bigrams ("a b": l, "b b": l) vs ("a b": l):
    # l^2 / (sqrt(2) l * l) = 1/sqrt(2); length penalty exp(-1 / 72).
    _, per = cider_d([toks("a b b"), toks("a c")], [[toks("a b")], [toks("a c")]])
    expected = 10 * math.exp(-1 / 72) * (0.5 + 1 / math.sqrt(2)) / 4
    assert per[0] == pytest.approx(expected)
    # with one image every idf is log 1 - log 1 = 0: nothing is informative, CIDEr-D is 0
    assert cider_d([toks("a b")], [[toks("a b")]])[0] == 0.0


def test_cider_d_averages_over_references() -> None:
    # image A has references "a b" and "x y"; B has "a c". idf: a 0, b/c/x/y/ab/ac/xy log 2.
    # candidate "a b": similarity 1 (n=1) and 1 (n=2) to "a b", 0 to "x y" -> 10 * (2 / 4) / 2 = 2.5
    _, per = cider_d([toks("a b"), toks("a c")], [[toks("a b"), toks("x y")], [toks("a c")]])
    assert per[0] == pytest.approx(2.5)


def test_caption_scores_exact_match_and_empty_references() -> None:
    scores = caption_scores(["a red heart", "笑哭了"], [["a red heart"], ["笑哭了"]])
    assert scores["BLEU-1"] == pytest.approx(1.0)
    assert scores["BLEU-3"] == pytest.approx(1.0)
    assert scores["BLEU-4"] == 0.0  # "a red heart" has no 4-gram, so the pooled 4-gram precision is 0/1
    assert scores["ROUGE-L"] == pytest.approx(1.0)
    assert scores["n"] == 2.0
    skipped = caption_scores(["x", "a red heart"], [["!!"], ["a red heart"]])  # "!!" has no tokens
    assert skipped["n"] == 1.0


def test_golden_values_of_the_coco_caption_toolkit() -> None:
    # The same inputs scored by pycocoevalcap 1.2 (Bleu(4), Rouge(), Cider(): its CIDEr-D scorer), run once
    # by hand outside this project; the toolkit adds 1e-9/1e-15 smoothing to BLEU, hence the tolerance.
    cands = [
        "a smiling face with big eyes",
        "red heart",
        "a cat with tears of joy",
        "dog face",
        "the blue heart with a cat",
    ]
    refs = [
        ["grinning face with big eyes", "smiling face"],
        ["red heart"],
        ["cat with tears of joy", "joy cat"],
        ["dog face", "dog"],
        ["blue heart"],
    ]
    scores = caption_scores(cands, refs)
    golden = [0.7272727272396694, 0.6859943405342683, 0.5809560444563747, 0.5056233739101387]
    assert [scores[f"BLEU-{n}"] for n in range(1, 5)] == pytest.approx(golden, abs=1e-8)
    assert scores["ROUGE-L"] == pytest.approx(0.8607447893162179, abs=1e-12)
    assert scores["CIDEr-D"] == pytest.approx(3.8505558371789403, abs=1e-12)
