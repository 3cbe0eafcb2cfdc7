"""``memesearch models``: turn checkpoints of other projects into folders the encoder registry loads.

Examples::

    memesearch models convert cn-clip QA-CLIP-base.pt models/qa-clip-b16
    memesearch models convert cn-clip clip_cn_vit-h-14.pt models/cn-clip-h14 --arch ViT-H-14
    memesearch models convert cn-clip UniCLIP.pt models/uniclip --keep-heads
    memesearch index memes/ --encoder clip:models/uniclip ...
    memesearch models onnx starter:runs/my-starter/export   # the starter tower's ONNX file, ahead of time
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

app = typer.Typer(
    help="Convert model checkpoints into folders that `clip:<dir>` loads; build the starter's ONNX file.",
    no_args_is_help=True,
)
convert_app = typer.Typer(
    help="Convert a checkpoint in another project's format into a Hugging Face folder.", no_args_is_help=True
)
app.add_typer(convert_app, name="convert")


@convert_app.command("cn-clip")
def cn_clip(
    checkpoint: Path = typer.Argument(
        ..., help="Original Chinese-CLIP / QA-CLIP / UniCLIP .pt file ({'epoch', 'step', 'state_dict'})."
    ),
    out_dir: Path = typer.Argument(..., help="Folder to create: a Hugging Face ChineseCLIPModel."),
    arch: str | None = typer.Option(
        None,
        "--arch",
        help="cn_clip architecture: ViT-B-16, ViT-L-14, ViT-L-14-336 or ViT-H-14 (RN50 cannot be converted) "
        "[default: inferred from the tensor shapes].",
    ),
    vocab: Path | None = typer.Option(
        None,
        "--vocab",
        help="BERT vocab.txt for the tokenizer [default: cn_clip's, shipped with memesearch].",
    ),
    keep_heads: bool = typer.Option(
        False,
        "--keep-heads",
        help="Write UniCLIP's training-only OCR heads to training_heads.safetensors (default: drop them).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT_DIR if it exists."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Show a progress bar [default: when stderr is a terminal]."
    ),
) -> None:
    """Convert an original Chinese-CLIP, QA-CLIP or UniCLIP checkpoint for `clip:OUT_DIR`.

    Writes config.json, model.safetensors (float32), cn_clip's tokenizer, an image processor with cn_clip's
    preprocessing (bicubic squash-resize, no centre crop) and conversion.json. OUT_DIR appears complete
    or not at all.
    """
    from memesearch.models.convert.cn_clip import convert_cn_clip, describe

    result = convert_cn_clip(
        checkpoint,
        out_dir,
        arch=arch,
        vocab=vocab,
        keep_heads=keep_heads,
        overwrite=overwrite,
        progress=sys.stderr.isatty() if progress is None else progress,
    )
    for line in describe(result):
        typer.echo(line)


@app.command("onnx")
def onnx(
    model: str = typer.Argument("starter", help="A starter encoder: starter, starter:DIR or checkpoint:RUN."),
) -> None:
    """Build the ONNX file of a starter tower in the user cache now (it is otherwise built on the first image
    it embeds) and check it against torch; prints its path."""
    from memesearch.errors import ConfigError
    from memesearch.models import create_encoder
    from memesearch.models.starter.encoder import StarterEncoder
    from memesearch.utils.synthetic import shapes_image

    enc = create_encoder(model, device="cpu")
    if not isinstance(enc, StarterEncoder) or enc.onnx_path is None:
        raise ConfigError(f"{model!r} is not a starter encoder; only the starter tower is exported to ONNX")
    diff = enc.runtime_difference([shapes_image(seed) for seed in range(8)])
    typer.echo(f"{enc.onnx_path}  (max |onnx - torch| = {diff:.2e} on 8 images)")
