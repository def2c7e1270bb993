"""One module per command group. Each exposes ``app`` (a Typer) or ``command()``."""
