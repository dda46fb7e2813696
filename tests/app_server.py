"""A real ``dasag app`` for the tests that need one (tests/commands/test_app.py, tests/integration/test_app_browser.py):
started as a user starts it, on a free port, bounded in time and always killed; and what can be read of
it from outside: the addresses its socket listens on, and the settings its page session receives."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class App:
    """A running ``dasag app``: its URL, port, process and console log."""

    url: str
    port: int
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text()


@contextlib.contextmanager
def running_app(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Iterator[App]:
    """``python -m dasag app --server.port PORT --server.headless true ARGS`` in ``cwd``; yields once its
    health check answers (on 127.0.0.1, where a default server listens); the whole process group is killed after."""
    port = free_port()
    log = cwd / f"dasag_app_{port}.log"
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dasag", "app", "--server.port", str(port), "--server.headless", "true",
                                 "--server.fileWatcherType", "none", *args],
                                cwd=cwd, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dasag app did not start: {log.read_text()[-2000:]}")
                time.sleep(0.5)
            yield App(url, port, proc, log)
        finally:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(10)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue


def listening_addresses(port: int) -> set[str]:
    """Every local address a socket listens on at ``port`` (``/proc/net/tcp`` and ``tcp6``, state LISTEN)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] != "0A" or int(hex_port, 16) != port:
                continue
            raw = bytes.fromhex(address)
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                found.add(socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))
    return found


def session_config(app: App):
    """The ``Config`` the server sends a page session that connects (what the browser is told, usage statistics included)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{app.port}/_stcore/stream", subprotocols=["streamlit"], origin=app.url, open_timeout=30) as ws:
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        ws.send(rerun.SerializeToString())
        for _ in range(200):
            message = ForwardMsg()
            message.ParseFromString(ws.recv(timeout=60))
            if message.WhichOneof("type") == "new_session":
                return message.new_session.config
    raise RuntimeError("the server sent no new_session message")
