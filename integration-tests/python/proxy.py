"""A TCP proxy on 127.0.0.1:0 that cuts connections mid-stream, to test
that clients resume interrupted downloads.

The first ``cuts`` connections that carry more than ``cut_after`` bytes
from the server are closed abruptly at that point; later connections pass
everything through. ``from_server`` counts the bytes the server sent."""

from __future__ import annotations

import socket
import threading


class CuttingProxy:
    def __init__(self, target: str, cut_after: int, cuts: int):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.cut_after = cut_after
        self.cuts_left = cuts
        self.cuts_done = 0
        self.from_server = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.addr = "127.0.0.1:%d" % self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"grpc://{self.addr}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                cut = self.cuts_left > 0
            pair = _Pair(client, upstream)
            threading.Thread(target=self._pipe, args=(pair, client, upstream, None), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(pair, upstream, client, self.cut_after if cut else None, True),
                daemon=True,
            ).start()

    def _pipe(self, pair: "_Pair", src: socket.socket, dst: socket.socket, limit: int | None,
              from_server: bool = False) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    with self._lock:
                        cutting = self.cuts_left > 0
                        if cutting:
                            self.cuts_left -= 1
                            self.cuts_done += 1
                    if cutting:
                        dst.sendall(data[: max(0, limit - sent)])
                        break
                    limit = None
                if from_server:
                    # Counted before it is passed on: once the client has it, it is counted.
                    with self._lock:
                        self.from_server += len(data)
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            pair.end()


class _Pair:
    """Both sockets of one proxied connection. The first pipe to end shuts
    both down (waking the other pipe's recv); the last one closes them, so a
    socket is never closed while another thread still reads it."""

    def __init__(self, a: socket.socket, b: socket.socket):
        self.sockets = (a, b)
        self.open_pipes = 2
        self.lock = threading.Lock()

    def end(self) -> None:
        with self.lock:
            self.open_pipes -= 1
            last = self.open_pipes == 0
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if last:
            for s in self.sockets:
                s.close()


class StallingProxy:
    """A TCP proxy on 127.0.0.1:0 that passes on the first ``stall_after``
    bytes each connection's server sends, then holds the rest until
    ``release()`` (never, when ``stall_after`` is None): a client stays
    mid-download for as long as a test needs, to kill it there or to watch
    it. ``from_server`` counts the bytes passed on from the server."""

    def __init__(self, target: str, stall_after: int | None):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.stall_after = stall_after
        self.from_server = 0
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.addr = "127.0.0.1:%d" % self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        """Passes on everything from now on."""
        self.released.set()

    def close(self) -> None:
        self.released.set()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            pair = _Pair(client, upstream)
            threading.Thread(target=self._pipe, args=(pair, client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(pair, upstream, client, True), daemon=True).start()

    def _pipe(self, pair: "_Pair", src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        limit = self.stall_after if from_server else None
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit and not self.released.is_set():
                    head = data[: max(0, limit - sent)]
                    self._send(dst, head, from_server)
                    sent += len(head)
                    data = data[len(head):]
                    self.released.wait()
                self._send(dst, data, from_server)
                sent += len(data)
        except OSError:
            pass
        finally:
            pair.end()

    def _send(self, dst: socket.socket, data: bytes, from_server: bool) -> None:
        dst.sendall(data)
        if from_server:
            with self._lock:
                self.from_server += len(data)
