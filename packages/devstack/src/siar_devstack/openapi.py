"""The OpenAPI documents of every HTTP API, committed under docs/openapi/.

``python -m siar_devstack.openapi`` rewrites them; a test fails when code and documents disagree."""

from __future__ import annotations

import json
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[4] / "docs" / "openapi"


def documents() -> dict[str, dict]:
    from siar_feedback.app import create_app as feedback
    from siar_metrics.app import create_app as metrics
    from siar_publisher.app import create_app as publisher
    from siar_scheduler.app import create_app as scheduler

    return {"scheduler": scheduler().openapi(), "publisher": publisher().openapi(),
            "feedback": feedback().openapi(), "metrics": metrics().openapi()}


def render(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, document in documents().items():
        (DOCS / f"{name}.json").write_text(render(document))
        print(f"wrote docs/openapi/{name}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
