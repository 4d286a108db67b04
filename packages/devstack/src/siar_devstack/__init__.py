"""Siar's services as local processes against the local RabbitMQ and PostgreSQL: the path that
runs the very same services as compose.yaml, without Docker (``make run``, the end-to-end tests,
the benchmarks and the fault matrix)."""

from .stack import SERVICES, ServiceProcess, Stack

__all__ = ["SERVICES", "ServiceProcess", "Stack"]
