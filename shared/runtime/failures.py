"""Which errors are the infrastructure's (retried for as long as it takes) rather than the
work's own (tried a few times, then set aside): the consumer's split between waiting out an
outage and dead-lettering a record."""

import socket

from aiokafka.errors import KafkaError
from sqlalchemy.exc import OperationalError

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,  # the database: unreachable, locked, out of space
    KafkaError,
    ConnectionError,  # a socket refused, reset or broken
    TimeoutError,
    socket.gaierror,  # a host name that does not resolve (yet)
)
"""Not every `OSError`: a handler's `FileNotFoundError` or `PermissionError` is the record's
fault, would fail the same way for ever, and so belongs on the dead-letter topic."""
