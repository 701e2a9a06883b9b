"""A slow but healthy link must not be declared dead mid-upload.

A real sshd behind a throttling TCP proxy (1.2 Mbit/s towards the device, like
a board on a congested site link). Over such a link the SFTP data already sent —
up to one SSH window, 2 MiB — takes longer to drain than the dead-link timeout,
and the keepalive replies wait behind it; closing the uploaded file waits for
all of it. The acknowledgements that keep coming back are the evidence that the
link lives. (The opposite case, a link that dies mid-upload and must be noticed
in seconds, is ``test_run.py::test_link_dying_during_the_upload_is_noticed_in_seconds``.)
"""

from __future__ import annotations

import getpass
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.core.inputs import parse_input
from console.core.package import open_package

UPSTREAM_BPS = 150_000  # towards the device; replies are not throttled


class ThrottlingProxy:
    def __init__(self, target_port: int, rate: float) -> None:
        self.rate = rate
        self.target_port = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target_port))
            self.conns += [c, s]
            threading.Thread(target=self._pump, args=(c, s, self.rate), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, 0.0), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket, rate: float) -> None:
        try:
            while True:
                d = a.recv(4096 if rate else 65536)
                if not d:
                    break
                b.sendall(d)
                if rate:
                    time.sleep(len(d) / rate)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:  # shutdown first: it wakes a pump blocked in recv on it
            for step in (lambda c=c: c.shutdown(socket.SHUT_RDWR), c.close):
                try:
                    step()
                except OSError:
                    pass


@pytest.fixture
def slow_link(ssh_env) -> Iterator[ThrottlingProxy]:  # type: ignore[no-untyped-def]
    proxy = ThrottlingProxy(ssh_env.server.port, UPSTREAM_BPS)
    yield proxy
    proxy.close()


def test_a_slow_link_uploads_without_being_called_dead(ssh_env, slow_link: ThrottlingProxy,  # type: ignore[no-untyped-def]
                                                       demo_package: Path,
                                                       demo_video: Path) -> None:
    dev = ssh_env.device(f"ssh://{getpass.getuser()}@127.0.0.1:{slow_link.port}",
                         key_file=str(ssh_env.server.client_key), accept_new_host_key=True)
    t0 = time.monotonic()
    try:
        dev.connect()
        dep = dev.deploy(open_package(demo_package), parse_input(str(demo_video)))
    finally:
        dev.close()
    took = time.monotonic() - t0
    print(f"\n2.1 MB at {UPSTREAM_BPS / 1e3:.0f} kB/s deployed in {took:.1f} s")
    assert dep.package_dir and dep.input_spec
    uploaded = list(Path(ssh_env.workdir).glob("inputs/*/digits-demo.avi"))
    assert len(uploaded) == 1 and uploaded[0].stat().st_size == demo_video.stat().st_size
    assert took > 2 * 1024 * 1024 / UPSTREAM_BPS  # the throttle really held it back
