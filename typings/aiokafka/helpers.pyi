from collections.abc import Callable
from os import PathLike
from ssl import SSLContext

_Path = str | bytes | PathLike[str] | PathLike[bytes]

def create_ssl_context(
    *,
    cafile: _Path | None = None,
    capath: _Path | None = None,
    cadata: str | bytes | None = None,
    certfile: _Path | None = None,
    keyfile: _Path | None = None,
    password: Callable[[], str | bytes | bytearray] | str | bytes | bytearray | None = None,
) -> SSLContext: ...
