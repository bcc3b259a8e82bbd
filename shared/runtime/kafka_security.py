"""How a Kafka client authenticates and encrypts: the settings' TLS and SASL fields, checked
once, turned into the keyword arguments every aiokafka producer, consumer and admin client
takes, so no client of the system can be built without them.
"""

import asyncio
import ssl
from pathlib import Path
from typing import Literal, TypedDict

from aiokafka.helpers import create_ssl_context
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecurity(BaseModel):
    """`KAFKA_SECURITY_PROTOCOL` and what it needs; the default is the embedded broker's
    plain, unauthenticated connection."""

    model_config = ConfigDict(frozen=True)

    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @model_validator(mode="after")
    def _complete_and_consistent(self) -> "KafkaSecurity":
        protocol = f"KAFKA_SECURITY_PROTOCOL={self.protocol}"
        if self.uses_sasl:
            needed = {
                "KAFKA_SASL_MECHANISM": self.sasl_mechanism,
                "KAFKA_SASL_USERNAME": self.sasl_username,
                "KAFKA_SASL_PASSWORD": self.sasl_password and self.sasl_password.get_secret_value(),
            }
            if missing := [name for name, value in needed.items() if not value]:
                raise ValueError(f"{protocol} needs {', '.join(missing)}")
        else:
            given = {
                "KAFKA_SASL_MECHANISM": self.sasl_mechanism,
                "KAFKA_SASL_USERNAME": self.sasl_username,
                "KAFKA_SASL_PASSWORD": self.sasl_password,
            }
            if unused := [name for name, value in given.items() if value]:
                raise ValueError(
                    f"{', '.join(unused)} set, but {protocol} does not authenticate with "
                    "SASL (use SASL_SSL or SASL_PLAINTEXT)"
                )
        files = {
            "KAFKA_SSL_CAFILE": self.ssl_cafile,
            "KAFKA_SSL_CERTFILE": self.ssl_certfile,
            "KAFKA_SSL_KEYFILE": self.ssl_keyfile,
        }
        given_files = {name: path for name, path in files.items() if path is not None}
        if given_files and not self.uses_tls:
            raise ValueError(
                f"{', '.join(given_files)} set, but {protocol} does not use TLS "
                "(use SSL or SASL_SSL)"
            )
        for name, path in given_files.items():
            if not path.is_file():
                raise ValueError(f"{name}={path}: no such file")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE (the client certificate)")
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """A context that verifies the brokers against `ssl_cafile` (else the system's CAs)
        and presents the client certificate when one is given."""
        if not self.uses_tls:
            return None
        context = create_ssl_context(
            cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
        )
        context.check_hostname = self.ssl_check_hostname
        return context

    def client_options(self) -> "ClientOptions":
        """aiokafka's (0.14) connection keyword arguments for this configuration."""
        options: ClientOptions = {"security_protocol": self.protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            assert self.sasl_password is not None  # checked by the validator
            assert self.sasl_mechanism is not None
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return options


class ClientOptions(TypedDict, total=False):
    """The connection keyword arguments every aiokafka client takes (typed by the stubs)."""

    security_protocol: SecurityProtocol
    ssl_context: ssl.SSLContext | None
    sasl_mechanism: SaslMechanism
    sasl_plain_username: str | None
    sasl_plain_password: str | None


PLAINTEXT = KafkaSecurity()


async def tls_handshake_error(bootstrap_servers: str, security: KafkaSecurity) -> str | None:
    """Why a TLS handshake with the first bootstrap server fails, or None when it succeeds
    (or TLS is off): aiokafka reports only "Unable to bootstrap", and logs the reason."""
    context = security.ssl_context()
    if context is None:
        return None
    host, _, port = bootstrap_servers.split(",")[0].strip().rpartition(":")
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port), ssl=context), timeout=5
        )
    except ssl.SSLError as exc:
        return f"TLS handshake with {host}:{port} failed: {exc.reason or exc}"
    except (OSError, TimeoutError, ValueError):
        return None  # not a TLS problem: aiokafka's own error says enough
    writer.close()
    return None
