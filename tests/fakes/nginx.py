"""deploy/nginx.conf run for real in front of local replicas (the compose network's
names swapped for loopback ports), so tests exercise the file operators deploy."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.processes import ROOT, free_port

DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"


class Nginx:
    def __init__(self, workdir: Path, replica_ports: list[int]) -> None:
        self.prefix = workdir / "nginx"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = self.prefix / "access.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.conf = self._render(DEPLOY_CONF.read_text(), replica_ports)

    def _render(self, text: str, ports: list[int]) -> str:
        servers = iter(ports)
        text = re.sub(r"gateway-\d+:8080", lambda _: f"127.0.0.1:{next(servers)}", text)
        text = text.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        text = text.replace("access_log /dev/stdout main;", f"access_log {self.access_log} main;")
        text = text.replace("error_log /dev/stderr warn;", f"error_log {self.prefix / 'error.log'} warn;")
        text = text.replace("worker_processes auto;", "worker_processes 1;\ndaemon off;")
        if os.geteuid() == 0:  # workers would otherwise drop to `nobody` and lose the prefix dir
            text = "user root;\n" + text
        return text

    def start(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.prefix.mkdir(parents=True, exist_ok=True)
        (self.prefix / "logs").mkdir(exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(self.conf)
        self.process = subprocess.Popen(
            [nginx, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def upstreams_seen(self) -> list[str]:
        """The replica address of each request, from nginx's access log."""
        text = self.access_log.read_text() if self.access_log.exists() else ""
        return re.findall(r"upstream=(127\.0\.0\.1:\d+)", text)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
