"""A real Prometheus (the ``prometheus`` binary, Debian's package) scraping a local stack, with
the alert rules of deploy/prometheus: what the e2e tests use to prove that every service is
scraped and that a post moves the series the dashboards and alerts read."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

DEPLOY = Path(__file__).resolve().parents[4] / "deploy"
LOCAL_CONFIG = DEPLOY / "prometheus" / "prometheus.local.yml"


def local_config(targets: dict[str, list[str]], *, interval: str = "1s") -> dict:
    """deploy/prometheus/prometheus.local.yml with each job's targets replaced by ``targets[job]``
    (``host:port`` each); jobs with no entry are left out. Rules come from deploy/prometheus."""
    import yaml  # a development dependency: only tests and developers generate configs

    config = yaml.safe_load(LOCAL_CONFIG.read_text())
    config["global"] |= {"scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(DEPLOY / "prometheus" / rule) for rule in config["rule_files"]]
    jobs = []
    for job in config["scrape_configs"]:
        if targets.get(job["job_name"]):
            jobs.append(job | {"static_configs": [{"targets": targets[job["job_name"]]}]})
    config["scrape_configs"] = jobs
    return config


class Prometheus:
    """``with Prometheus(config, port) as prom: prom.query("up")``."""

    def __init__(self, config: dict, port: int, binary: str | None = None) -> None:
        self.config = config
        self.port = port
        self.binary = binary or shutil.which("prometheus") or "prometheus"
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> Prometheus:
        self._dir = tempfile.TemporaryDirectory(prefix="siar-prometheus-")
        root = Path(self._dir.name)
        (root / "prometheus.yml").write_text(json.dumps(self.config, indent=2))  # JSON is YAML
        self.log_path = root / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={root / 'prometheus.yml'}",
                    f"--storage.tsdb.path={root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"prometheus not ready after {timeout} s: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def api(self, path: str, **params: str) -> dict | list:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise ValueError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]  # type: ignore[index]

    def value(self, expr: str) -> float:
        """The single value of a scalar-like query (``sum(...) or vector(0)``)."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
