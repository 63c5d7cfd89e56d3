"""A programmable upstream on loopback for providers the simulator does not speak (Bedrock, Azure, Cohere,
Ollama): it answers every request with `reply`, written as chunked transfer in pieces of `chunk` bytes (after
`head_pause` seconds), and keeps what it received so tests can check what Tollgate forwarded."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubUpstream:
    def __init__(self) -> None:
        self.received: list[dict] = []
        self.reply: tuple[int, str, bytes] = (200, "application/json", b"{}")
        self.chunk = 4096
        self.head_pause = 0.0  # seconds between the response head and its body (a provider still thinking)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                stub.received.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                status, content_type, payload = stub.reply
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("x-amzn-requestid", "stub-request")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                time.sleep(stub.head_pause)
                for start in range(0, len(payload), stub.chunk):
                    piece = payload[start : start + stub.chunk]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last_headers(self) -> dict[str, str]:
        """The headers of the last request received, by lowercased name."""
        return {name.lower(): value for name, value in self.received[-1]["headers"].items()}

    def close(self) -> None:
        self.server.shutdown()
