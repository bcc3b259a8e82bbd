"""Run an ASGI app as a real HTTP server on loopback, for as long as a `with` block lasts.

The server runs uvicorn in its own thread with its own event loop, so it works the same
from sync and async tests, whatever event loop pytest-asyncio gives each test, and a peer
that is slow on purpose never blocks the test's loop.

    with serve(peer.app) as base_url:
        ...  # http://127.0.0.1:<free port>
"""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


@contextmanager
def serve(
    app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 10.0
) -> Iterator[str]:
    """Serve `app` on `port` of `host` (a free one if 0); yield its base URL; stop it on exit."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        loop="asyncio",
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"peer-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:  # a poll is the only way to see uvicorn's readiness
            if not thread.is_alive():
                raise RuntimeError(f"server on port {port} stopped while starting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on port {port} not ready in {startup_timeout}s")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
