"""Downloading the published weights (app.weights.download / download_published) from a
local HTTP server: files land in the cache only when complete and valid, atomically."""
from __future__ import annotations

import http.server
import io
import socket
import threading
from pathlib import Path

import pytest
import torch

from app import weights
from app.errors import UserError
from app.paths import cache_dir
from conftest import assert_one_line


def _bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def vgg_bytes(published_vgg_file) -> bytes:
    return published_vgg_file.read_bytes()


@pytest.fixture(scope="module")
def decoder_bytes(published_decoder_state) -> bytes:
    return _bytes(published_decoder_state)


class _Server:
    """A local HTTP/1.0 server; ``routes[path] = (status, body, declared_length or None)``."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, int | None]] = {}
        self.hits: list[str] = []
        routes, hits = self.routes, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                if self.path not in routes:
                    self.send_error(404, "File not found")
                    return
                status, body, declared = routes[self.path]
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(declared if declared is not None else len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/release"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = _Server()
    yield srv
    srv.close()


def _published() -> Path:
    return cache_dir() / "published"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_download_published_fetches_both_and_they_load(server, vgg_bytes, decoder_bytes, adain_home,
                                                       published_decoder_state):
    server.routes["/release/vgg_normalised.pth"] = (200, vgg_bytes, None)
    server.routes["/release/decoder.pth"] = (200, decoder_bytes, None)
    paths = weights.download_published(base_url=server.base_url + "/", progress=False)
    assert [p.name for p in paths] == ["vgg_normalised.pth", "decoder.pth"]
    assert all(p.parent == _published() for p in paths)
    assert adain_home in paths[0].parents  # under ADAIN_LIVE_HOME, never the real home
    assert _leftovers(_published()) == ["decoder.pth", "vgg_normalised.pth"]
    assert paths[0].read_bytes() == vgg_bytes  # download_published validated it with load_published_vgg
    net, _ = weights.load_decoder(paths[1])
    torch.testing.assert_close(net[28].weight, published_decoder_state["28.weight"])
    assert server.hits == ["/release/vgg_normalised.pth", "/release/decoder.pth"]


def test_truncated_download_is_refused_and_leaves_nothing(server, decoder_bytes):
    body = decoder_bytes[: len(decoder_bytes) // 3]
    server.routes["/release/decoder.pth"] = (200, body, len(decoder_bytes))  # Content-Length > body
    dest = _published() / "decoder.pth"
    with pytest.raises(UserError) as info:
        weights.download(f"{server.base_url}/decoder.pth", dest, weights.load_decoder, progress=False)
    msg = str(info.value)
    assert_one_line(msg)
    assert "incomplete" in msg or "cannot download" in msg
    assert _leftovers(_published()) == []


def test_invalid_state_dict_is_refused_and_leaves_nothing(server, vgg_bytes, published_decoder_state):
    broken = dict(published_decoder_state)
    del broken["28.bias"]
    server.routes["/release/vgg_normalised.pth"] = (200, vgg_bytes, None)
    server.routes["/release/decoder.pth"] = (200, _bytes(broken), None)
    with pytest.raises(UserError, match="missing 28.bias") as info:
        weights.download_published(base_url=server.base_url, progress=False)
    assert_one_line(str(info.value))
    # The valid VGG file was completed before; the invalid decoder never appears.
    assert _leftovers(_published()) == ["vgg_normalised.pth"]


def test_garbage_body_is_refused(server):
    server.routes["/release/vgg_normalised.pth"] = (200, b"<html>rate limited</html>" * 50, None)
    with pytest.raises(UserError, match="not a readable VGG encoder") as info:
        weights.download_published(base_url=server.base_url, progress=False)
    assert_one_line(str(info.value))
    assert _leftovers(_published()) == []


def test_failed_download_keeps_an_existing_good_file(server, decoder_bytes):
    dest = weights.published_dir() / "decoder.pth"
    dest.write_bytes(decoder_bytes)
    server.routes["/release/decoder.pth"] = (200, b"\x00" * 1000, None)
    with pytest.raises(UserError):
        weights.download(f"{server.base_url}/decoder.pth", dest, weights.load_decoder, progress=False)
    assert dest.read_bytes() == decoder_bytes
    assert _leftovers(_published()) == ["decoder.pth"]


def test_404_is_a_one_line_user_error(server):
    with pytest.raises(UserError) as info:
        weights.download_published(base_url=server.base_url, progress=False)
    msg = str(info.value)
    assert_one_line(msg)
    assert "not found" in msg.lower() and "vgg_normalised.pth" in msg
    assert _leftovers(_published()) == []


def test_connection_refused_is_a_user_error():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserError, match="cannot download") as info:
        weights.download_published(base_url=f"http://127.0.0.1:{port}", progress=False)
    assert_one_line(str(info.value))
    assert _leftovers(_published()) == []
