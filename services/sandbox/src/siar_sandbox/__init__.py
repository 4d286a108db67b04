"""Siar's sandbox: an imitation of the platforms' HTTP APIs (real HTTP, in memory).

``create_app()`` in :mod:`siar_sandbox.app` builds an independent app; ``python -m siar_sandbox``
serves it. See services/sandbox/README.md for the conventions and the control API.
"""

__all__ = ["create_app"]


def __getattr__(name: str):  # noqa: ANN202 - lazy, so importing the package stays cheap
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
