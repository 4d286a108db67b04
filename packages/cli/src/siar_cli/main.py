"""The ``siar`` console script: the app with every command group registered."""

from __future__ import annotations

from . import accounts, calendar, dead_letters, posts, reports, series, surveys  # noqa: F401  (each module registers its commands)
from .app import app


def main() -> None:
    app(prog_name="siar")


if __name__ == "__main__":  # pragma: no cover
    main()
