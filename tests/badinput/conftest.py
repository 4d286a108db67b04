def pytest_configure(config):
    config.addinivalue_line(
        "markers", "badinput: schemathesis against the OpenAPI documents (SIAR_FUZZ_EXAMPLES per operation)"
    )
