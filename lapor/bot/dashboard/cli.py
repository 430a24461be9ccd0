"""`lapor staff ...`: dashboard accounts."""

from __future__ import annotations

import typer

staff_app = typer.Typer(help="Dashboard staff accounts.", no_args_is_help=True)
