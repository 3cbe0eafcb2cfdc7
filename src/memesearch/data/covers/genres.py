"""Video genres of the covers benchmark: what a cover says, what its title says, what a searcher types.

A cover is a video about a **topic** (a CLDR emoji: 猫 / cat, 汉堡 / hamburger) in a **genre** (funny
compilation, tutorial, review, ...). For each genre and language there are three kinds of text, with
``{x}`` the topic's name (CLDR short name; upper-cased on some English covers):

* ``cover``: the short text overlaid on the cover (what OCR reads): "{x}搞笑合集", "FUNNY {x}";
* ``title``: the video title, which says more than the cover: an episode number, a hook, hashtags of
  the topic's CLDR keywords ("【搞笑】{x}的{n}个沙雕瞬间，看到最后笑出声 #宠物");
* ``query``: a short query-like search ("{x}搞笑", "funny {x}"), as CBVS-20K's queries (about 7
  characters) are.

Each genre has an **icon**, an emoji drawn small on its covers (always on text-less covers), so the genre
can be seen without reading; icons are never topics.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Genre:
    """One genre: its key, icon emoji (join key) and its texts per language (see the module docstring)."""

    key: str
    icon: str
    cover: dict[str, tuple[str, ...]]
    title: dict[str, tuple[str, ...]]
    query: dict[str, tuple[str, ...]]


GENRES: tuple[Genre, ...] = (
    Genre(
        "funny",
        "1F602",
        cover={"en": ("FUNNY {x}", "{x} FAILS", "{x} LOL"), "zh": ("{x}搞笑合集", "沙雕{x}", "{x}名场面")},
        title={
            "en": (
                "Funniest {x} moments compilation #{n}: try not to laugh",
                "{x} fails that will make your day (part {n})",
            ),
            "zh": ("【搞笑】{x}的{n}个沙雕瞬间，看到最后笑出声", "{x}搞笑合集第{n}期：全程高能"),
        },
        query={"en": ("funny {x}", "{x} funny videos"), "zh": ("{x}搞笑", "搞笑{x}视频")},
    ),
    Genre(
        "tutorial",
        "270F",
        cover={"en": ("HOW TO DRAW {x}", "{x} TUTORIAL", "EASY {x}"), "zh": ("{x}教程", "手把手教你画{x}")},
        title={
            "en": ("How to draw a {x} step by step: easy tutorial #{n}", "Easy {x} drawing in {n} minutes"),
            "zh": ("【教程】{n}分钟学会画{x}，零基础也能学会", "{x}简笔画教程第{n}课，手残党也能画"),
        },
        query={"en": ("{x} tutorial", "how to draw {x}"), "zh": ("{x}教程", "{x}简笔画")},
    ),
    Genre(
        "review",
        "2B50",
        cover={"en": ("{x} REVIEW", "IS {x} WORTH IT?"), "zh": ("{x}测评", "{x}值得买吗")},
        title={
            "en": ("Honest {x} review after {n} days: is it worth it?", "{x} review #{n}: the truth"),
            "zh": ("【测评】{x}用了{n}天的真实感受，值不值得买？", "{x}深度测评第{n}期：优缺点全说清"),
        },
        query={"en": ("{x} review", "{x} worth it"), "zh": ("{x}测评", "{x}评测")},
    ),
    Genre(
        "top10",
        "1F3C6",
        cover={"en": ("TOP 10 {x}", "BEST {x} EVER"), "zh": ("十大{x}盘点", "{x}排行榜")},
        title={
            "en": ("Top 10 {x} moments you need to see (no. {n} is crazy)", "Best {x} of the year, part {n}"),
            "zh": ("盘点{n}个最火的{x}瞬间，第一名绝了", "年度{x}排行榜第{n}弹"),
        },
        query={"en": ("top 10 {x}", "best {x}"), "zh": ("{x}盘点", "{x}排行")},
    ),
    Genre(
        "asmr",
        "1F3A7",
        cover={"en": ("{x} ASMR", "RELAXING {x}"), "zh": ("{x}解压", "治愈系{x}")},
        title={
            "en": ("{x} ASMR: {n} minutes of relaxing sounds for sleep", "Relaxing {x} sounds #{n}"),
            "zh": ("【ASMR】{n}分钟{x}解压视频，听完秒睡", "治愈系{x}第{n}弹，失眠的来"),
        },
        query={"en": ("{x} asmr", "relaxing {x}"), "zh": ("{x}解压", "治愈{x}")},
    ),
    Genre(
        "vlog",
        "1F4F7",
        cover={"en": ("MY {x} VLOG", "A DAY WITH {x}"), "zh": ("{x}日常", "和{x}的一天")},
        title={
            "en": ("A day with my {x}: vlog #{n}", "Life with a {x}, week {n}"),
            "zh": ("vlog｜和{x}一起度过的第{n}天", "{x}日常第{n}集，平凡又快乐"),
        },
        query={"en": ("{x} vlog", "day with {x}"), "zh": ("{x}日常", "{x}vlog")},
    ),
    Genre(
        "documentary",
        "1F3AC",
        cover={"en": ("{x} DOCUMENTARY", "THE WORLD OF {x}"), "zh": ("{x}纪录片", "走进{x}的世界")},
        title={
            "en": ("The secret life of {x}: full documentary, episode {n}", "Inside the world of {x} ({n})"),
            "zh": ("纪录片《{x}的秘密》第{n}集", "走进{x}的世界：高清纪录片第{n}集"),
        },
        query={"en": ("{x} documentary", "{x} film"), "zh": ("{x}纪录片", "{x}科教片")},
    ),
    Genre(
        "song",
        "1F3B5",
        cover={"en": ("{x} SONG", "SING: {x}"), "zh": ("{x}儿歌", "{x}之歌")},
        title={
            "en": ("The {x} song for kids: nursery rhymes #{n}", "Sing along with the {x} ({n})"),
            "zh": ("儿歌｜{x}之歌，宝宝最爱听的第{n}首", "{x}儿歌合集第{n}期"),
        },
        query={"en": ("{x} song", "{x} kids song"), "zh": ("{x}儿歌", "{x}歌曲")},
    ),
    Genre(
        "facts",
        "1F4A1",
        cover={"en": ("{x} FACTS", "WHY {x}?"), "zh": ("{x}冷知识", "关于{x}的真相")},
        title={
            "en": ("{n} amazing facts about {x} you didn't know", "Why {x}? Science explained #{n}"),
            "zh": ("【科普】关于{x}你不知道的{n}个冷知识", "{x}的真相第{n}期：涨知识了"),
        },
        query={"en": ("{x} facts", "facts about {x}"), "zh": ("{x}冷知识", "{x}科普")},
    ),
    Genre(
        "challenge",
        "1F525",
        cover={"en": ("{x} CHALLENGE", "24H {x} CHALLENGE"), "zh": ("{x}挑战", "挑战{x}")},
        title={
            "en": ("24 hour {x} challenge, part {n}", "I tried the {x} challenge for {n} days"),
            "zh": ("挑战24小时只和{x}在一起，结局没想到", "{x}挑战第{n}天，太难了"),
        },
        query={"en": ("{x} challenge", "{x} 24h challenge"), "zh": ("{x}挑战", "挑战{x}视频")},
    ),
)

GENRE_KEYS: tuple[str, ...] = tuple(g.key for g in GENRES)
ICON_KEYS: frozenset[str] = frozenset(g.icon for g in GENRES)


def genre(key: str) -> Genre:
    """The genre named ``key``."""
    for g in GENRES:
        if g.key == key:
            return g
    raise KeyError(f"unknown genre {key!r}; genres: {', '.join(GENRE_KEYS)}")
