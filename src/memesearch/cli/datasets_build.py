"""``memesearch datasets build``: build benchmark datasets from offline sources."""

import typer

app = typer.Typer(help="Build benchmark datasets from offline sources.", no_args_is_help=True)
