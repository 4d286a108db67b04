"""``siar``: Siar's command line (typer + rich), talking to the services' HTTP APIs."""
