"""KAFKA_SECURITY_PROTOCOL and friends: refused when incomplete, mapped to aiokafka's 0.14
keyword arguments when not. (SASL is tested here only: tansu 0.6 offers SCRAM only with
`--authentication`, and then refuses `tansu user create` itself, unauthenticated, so no
first user can be made on its memory storage; without it, it offers no SASL mechanism.)"""

import ssl
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from shared.runtime.kafka_security import KafkaSecurity
from shared.runtime.settings import CommonSettings


def settings(**values: object) -> CommonSettings:
    return CommonSettings(**values)  # type: ignore[arg-type]


def test_plaintext_is_the_default_and_adds_nothing_but_the_protocol() -> None:
    assert settings().kafka_security().client_options() == {"security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_maps_to_aiokafkas_arguments(mechanism: str) -> None:
    options = (
        settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism=mechanism,
            kafka_sasl_username="api-key",
            kafka_sasl_password="api-secret",
        )
        .kafka_security()
        .client_options()
    )
    context = options.pop("ssl_context")
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "api-key",
        "sasl_plain_password": "api-secret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


async def test_the_arguments_are_ones_aiokafka_takes() -> None:
    """A producer built with them knows them (a misspelt keyword raises TypeError)."""
    security = KafkaSecurity(
        protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="u",
        sasl_password="p",  # type: ignore[arg-type]
    )
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **security.client_options())
    try:
        assert producer.client._security_protocol == "SASL_PLAINTEXT"
        assert producer.client._sasl_mechanism == "SCRAM-SHA-256"
        assert producer.client._sasl_plain_username == "u"
    finally:
        await producer.stop()


def test_sasl_plaintext_has_no_ssl_context() -> None:
    options = KafkaSecurity(
        protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password="p",  # type: ignore[arg-type]
    ).client_options()
    assert "ssl_context" not in options
    assert options["security_protocol"] == "SASL_PLAINTEXT"


def test_hostname_checking_can_be_turned_off() -> None:
    security = settings(kafka_security_protocol="SSL", kafka_ssl_check_hostname=False)
    context = security.kafka_security().ssl_context()
    assert context is not None
    assert context.check_hostname is False


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"kafka_security_protocol": "SASL_SSL"},
            "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, "
            "KAFKA_SASL_PASSWORD",
        ),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": "PLAIN",
                "kafka_sasl_username": "u",
            },
            "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs KAFKA_SASL_PASSWORD",
        ),
        (
            {"kafka_sasl_username": "u", "kafka_sasl_password": "p"},
            "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set, but KAFKA_SECURITY_PROTOCOL=PLAINTEXT "
            "does not authenticate with SASL",
        ),
        (
            {"kafka_ssl_cafile": "/etc/hosts"},
            "KAFKA_SSL_CAFILE set, but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nowhere/ca.pem"},
            "KAFKA_SSL_CAFILE=/nowhere/ca.pem: no such file",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "/etc/hosts"},
            "KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI"},
            "kafka_sasl_mechanism",
        ),
    ],
)
def test_incomplete_or_inconsistent_settings_are_refused_naming_the_variable(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace(".", r"\.")):
        settings(**values)


def test_the_variables_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read until a context is made")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "planb")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", str(ca))
    security = CommonSettings().kafka_security()
    assert security.sasl_mechanism == "SCRAM-SHA-512"
    assert security.sasl_username == "planb"
    assert security.sasl_password is not None
    assert security.sasl_password.get_secret_value() == "s3cret"
    assert security.ssl_cafile == ca
