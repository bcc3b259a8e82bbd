"""TLS in front of tansu for tests: tansu 0.6 serves only plain TCP (its `--cert` flag is
accepted but the listener stays plaintext), so a loopback proxy terminates TLS with a
throwaway CA's certificate and forwards the bytes; tansu advertises the proxy's address,
so every connection a Kafka client opens goes through TLS."""

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from shared.devtools.broker import EmbeddedBroker, free_port


@dataclass(frozen=True)
class Authority:
    """A CA's certificate and a server certificate it signed for 127.0.0.1/localhost."""

    ca_file: Path
    server_cert: Path
    server_key: Path


def make_authority(folder: Path, name: str) -> Authority:
    """A fresh CA and server certificate made with the `openssl` command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the TLS tests need the `openssl` command")
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_file = folder / f"{name}-ca.key", folder / f"{name}-ca.pem"
    key, csr, cert = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.pem"
    extensions = folder / f"{name}.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str | Path) -> None:
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)

    run(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
        *("-keyout", ca_key, "-out", ca_file, "-subj", f"/CN={name} test CA"),
    )
    run(
        *("req", "-newkey", "rsa:2048", "-nodes"),
        *("-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"),
    )
    run(
        *("x509", "-req", "-in", csr, "-CA", ca_file, "-CAkey", ca_key, "-CAcreateserial"),
        *("-days", "1", "-out", cert, "-extfile", extensions),
    )
    return Authority(ca_file=ca_file, server_cert=cert, server_key=key)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def tls_broker(folder: Path, authority: Authority) -> AsyncIterator[str]:
    """A tansu broker reachable only through TLS; yields the bootstrap address."""
    proxy_port = free_port()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(authority.server_cert, authority.server_key)
    with EmbeddedBroker(
        log_file=folder / "tansu.log", advertised_url=f"tcp://127.0.0.1:{proxy_port}"
    ) as broker:
        pipes: set[asyncio.Task[None]] = set()

        async def forward(
            client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
        ) -> None:
            try:
                broker_in, broker_out = await asyncio.open_connection("127.0.0.1", broker.port)
            except OSError:
                client_out.close()
                return
            for task in (
                asyncio.create_task(_pipe(client_in, broker_out)),
                asyncio.create_task(_pipe(broker_in, client_out)),
            ):
                pipes.add(task)
                task.add_done_callback(pipes.discard)

        server = await asyncio.start_server(forward, "127.0.0.1", proxy_port, ssl=context)
        try:
            yield f"127.0.0.1:{proxy_port}"
        finally:
            server.close()
            for task in list(pipes):
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            await server.wait_closed()
