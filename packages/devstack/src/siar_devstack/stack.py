"""Start, watch, kill and restart Siar's services as separate processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES: dict[str, tuple[str, int]] = {
    # name: (python module, default port)
    "sandbox": ("siar_sandbox", 8010),
    "scheduler": ("siar_scheduler", 8001),
    "publisher": ("siar_publisher", 8002),
    "feedback": ("siar_feedback", 8004),
    "metrics": ("siar_metrics", 8003),
}


@dataclass
class ServiceProcess:
    name: str
    module: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    _log: object = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 — lives as long as the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=1)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout} s ({last}); see {self.log_path}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Stack:
    """The services of one local Siar, each in its own process, sharing one database URL."""

    def __init__(
        self,
        *,
        database_url: str,
        amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/",
        ports: dict[str, int] | None = None,
        log_dir: Path = Path(".run"),
        extra_env: dict[str, str] | None = None,
        services: tuple[str, ...] = tuple(SERVICES),
        replicas: dict[str, int] | None = None,
    ) -> None:
        """``replicas={"publisher": 3}`` runs publisher, publisher-2 and publisher-3, each its own
        process on its own port (``ports["publisher-2"]``, else the default port + 100 × (n - 1))."""
        self.database_url = database_url
        self.amqp_url = amqp_url
        self.ports = {name: port for name, (_, port) in SERVICES.items()} | (ports or {})
        self.log_dir = log_dir
        self.extra_env = extra_env or {}
        self.services: dict[str, ServiceProcess] = {}
        for name in services:
            module, default_port = SERVICES[name]
            for n in range(1, (replicas or {}).get(name, 1) + 1):
                instance = name if n == 1 else f"{name}-{n}"
                self.ports.setdefault(instance, default_port + 100 * (n - 1))
                self.services[instance] = ServiceProcess(
                    name=instance, module=module, port=self.ports[instance], env=self.env_for(instance),
                    log_path=log_dir / f"{instance}.log",
                )

    def replicas(self, name: str) -> list[ServiceProcess]:
        """Every process of one service: ``name`` itself, then ``name-2``, ``name-3``…"""
        return [s for key, s in self.services.items() if key == name or key.rpartition("-")[0] == name]

    # Passed through although it starts with SIAR_: the test suite's check of pooled connections.
    PASSED_THROUGH = ("SIAR_DB_CHECK_SESSION",)

    def env_for(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIAR_") or k in self.PASSED_THROUGH}
        env.update(
            {
                "SIAR_DATABASE_URL": self.database_url,
                "SIAR_AMQP_URL": self.amqp_url,
                "SIAR_HTTP_HOST": "127.0.0.1",
                "SIAR_HTTP_PORT": str(self.ports[name]),
                "PYTHONUNBUFFERED": "1",
                # The sandbox serves its sample media on this machine, where a media link may
                # otherwise not lead (siar_runtime.egress); an operator's own setting wins.
                "SIAR_ALLOWED_PRIVATE_ADDRESSES": os.environ.get("SIAR_ALLOWED_PRIVATE_ADDRESSES", "127.0.0.0/8,::1"),
            }
        )
        env.update(self.extra_env)
        return env

    def url(self, name: str) -> str:
        return self.services[name].url

    def migrate(self) -> None:
        from siar_runtime.migrate import migrate

        migrate(self.database_url, quiet=True)

    def start(self, *names: str, timeout: float = 30) -> None:
        chosen = names or tuple(self.services)
        for name in chosen:
            self.services[name].start()
        for name in chosen:
            self.services[name].wait_ready(timeout)

    def restart(self, name: str, timeout: float = 30) -> None:
        self.services[name].stop()
        self.services[name].start()
        self.services[name].wait_ready(timeout)

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
