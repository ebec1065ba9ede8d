"""The fast fake upstream: nginx answering chat requests with canned files.

nginx cannot choose a reply by body in a static location: `return` never reads
the body, and files are served only to GET. So the public server proxies chat
requests, as GETs, to an internal server on a unix socket; by then nginx has
read the body, and a `map` over `$request_body` tells the internal server (in a
header) whether `"stream": true` was asked. The internal server's access log
counts the chat requests the upstream served.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import canned
import procs


def _nginx_string(text: str) -> str:
    """text as a single-quoted nginx string (escapes `\\`, `'` and newlines)."""
    if "$" in text:
        raise ValueError("nginx would read $ as a variable")
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def nginx_conf(prefix: Path, port: int) -> str:
    sock = prefix / "canned.sock"
    models = _nginx_string(json.dumps(canned.models()))
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile {procs.nofile_limit()};
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    log_format count '$http_x_canned';

    map $request_body $canned {{
        '~"stream"\\s*:\\s*true' sse;
        default json;
    }}
    upstream canned {{
        server unix:{sock};
        keepalive 256;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        client_body_buffer_size 64k;
        client_body_in_single_buffer on;
        location = /v1/chat/completions {{
            proxy_pass http://canned;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Canned $canned;
            # the internal server serves files, which nginx does only for GET
            proxy_method GET;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}
        location = /v1/models {{
            default_type application/json;
            return 200 {models};
        }}
        location / {{ return 404; }}
    }}
    server {{
        listen unix:{sock};
        access_log {prefix}/upstream.log count;
        location = /v1/chat/completions {{ rewrite ^ /canned/$http_x_canned last; }}
        root {prefix}/www;
        location = /canned/json {{ default_type application/json; }}
        location = /canned/sse {{
            default_type text/event-stream;
            add_header Cache-Control no-cache;
        }}
    }}
}}
"""


class FakeUpstream:
    """nginx as a child process with its own prefix dir under workdir."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.prefix = workdir / "nginx"
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        www = self.prefix / "www" / "canned"
        www.mkdir(parents=True, exist_ok=True)
        (www / "json").write_text(json.dumps(canned.completion(), separators=(",", ":")))
        (www / "sse").write_text(canned.sse_text())
        conf = self.prefix / "nginx.conf"
        conf.write_text(nginx_conf(self.prefix, self.port))
        (self.prefix / "upstream.log").touch()
        argv = [
            nginx,
            "-p",
            f"{self.prefix}/",
            "-c",
            str(conf),
            "-e",
            str(self.prefix / "error.log"),
        ]
        if not procs.port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is taken")
        self.proc = procs.spawn(procs.pinned(procs.LOAD_CPU, argv), self.prefix / "stdout.log")
        procs.wait_ready(f"{self.base_url}/models", self.proc, timeout=10)

    def request_count(self) -> int:
        """Chat requests the upstream has answered so far."""
        with (self.prefix / "upstream.log").open("rb") as log:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: log.read(1 << 20), b""))

    def stop(self) -> None:
        procs.stop(self.proc)
