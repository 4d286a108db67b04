from siar_devstack.openapi import DOCS, documents, render


def test_the_committed_openapi_documents_match_the_code():
    for name, document in documents().items():
        committed = (DOCS / f"{name}.json").read_text()
        assert committed == render(document), (
            f"docs/openapi/{name}.json is stale: run `uv run python -m siar_devstack.openapi`"
        )


def test_every_operation_documents_its_problem_responses():
    for name, document in documents().items():
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                assert "401" in operation["responses"], f"{name} {method.upper()} {path} has no 401"
