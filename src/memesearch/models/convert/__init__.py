"""Converters from other projects' checkpoint formats into folders the encoder registry loads.

``cn_clip``: original Chinese-CLIP / QA-CLIP / UniCLIP ``.pt`` checkpoints -> a Hugging Face
``ChineseCLIPModel`` folder for ``clip:<dir>`` (``memesearch models convert cn-clip``). Importing this
package is light; torch and transformers are imported when a conversion runs.
"""

from memesearch.models.convert.cn_clip import ConversionResult, convert_cn_clip
from memesearch.models.convert.cn_clip_arch import ARCHITECTURES, CnClipArch

__all__ = ["ARCHITECTURES", "CnClipArch", "ConversionResult", "convert_cn_clip"]
