"""The animated-sticker benchmark (issue 15): GIF / animated WebP / APNG files made offline from the emoji
npm packages, each showing two or three emoji in turn, some with a caption only in a later frame.

* :mod:`.config` — :class:`AnimatedBuildConfig` and the output names;
* :mod:`.render` — drawing and writing one animation;
* :mod:`.assemble` — which emoji go into which animation, then items and graded queries;
* :mod:`.build` — the driver behind ``memesearch datasets build animated``.
"""

from memesearch.data.animated.config import AnimatedBuildConfig

__all__ = ["AnimatedBuildConfig"]
