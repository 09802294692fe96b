"""A raw-socket HTTP server on 127.0.0.1: each path answers with exactly the bytes it is given
(malformed status lines, headers and bodies included), then closes the connection."""

from __future__ import annotations

import socketserver
import threading


class RawServer:
    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(5)
                head = b""
                try:
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        chunk = self.request.recv(4096)
                        if not chunk:
                            return
                        head += chunk
                    parts = head.split(b" ", 2)
                    path = parts[1].decode("latin-1") if len(parts) > 1 else "/"
                    server.hits[path] = server.hits.get(path, 0) + 1
                    self.request.sendall(server.routes.get(path, b"HTTP/1.1 404 Not Found\r\n"
                                                                  b"Content-Length: 0\r\n\r\n"))
                except OSError:
                    return

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            request_queue_size = 128

        self.tcp = Server(("127.0.0.1", 0), Handler)
        self.port = self.tcp.server_address[1]
        threading.Thread(target=self.tcp.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.tcp.shutdown()
        self.tcp.server_close()
