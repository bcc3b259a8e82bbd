"""Failures below HTTP, and building adapters from the channels file, for every platform."""

import socket

import httpx
import pytest

from services.publisher.channels.http_channels import HTTP_CHANNEL_FACTORIES, build_http_channel
from services.publisher.channels.platforms.x import XChannel
from services.publisher.channels.protocol import OutgoingPost, RetryableChannelError
from shared.contract.channels import ChannelConfig, ChannelType

CREDENTIALS: dict[ChannelType, dict[str, str]] = {
    ChannelType.MASTODON: {"access_token": "T_MASTODON"},
    ChannelType.BLUESKY: {"identifier": "T_BSKY_ID", "app_password": "T_BSKY_PASSWORD"},
    ChannelType.X: {"access_token": "T_X"},
    ChannelType.TELEGRAM: {"bot_token": "T_TG_TOKEN", "chat_id": "T_TG_CHAT"},
    ChannelType.SLACK: {"webhook_url": "T_SLACK_URL"},
    ChannelType.WEBHOOK: {"secret": "T_HOOK_SECRET"},
}
CASES = list(CREDENTIALS.items())


def closed_port_url() -> str:
    """A loopback URL nothing listens on: the port was free a moment ago and is closed now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(("kind", "names"), CASES)
async def test_a_refused_connection_is_retryable(
    client: httpx.AsyncClient, kind: ChannelType, names: dict[str, str]
) -> None:
    url = closed_port_url()
    env = {variable: f"{url}/hook" if "URL" in variable else "value" for variable in names.values()}
    config = ChannelConfig(id="down", type=kind, name="down", url=url, credentials_env=names)
    channel = build_http_channel(config, env, client)

    with pytest.raises(RetryableChannelError, match="transport error: ConnectError") as down:
        await channel.send(OutgoingPost(text="Anyone there?", idempotency_key="c1"))

    assert down.value.retry_after is None


@pytest.mark.parametrize(("kind", "names"), CASES)
async def test_from_config_names_the_missing_variable(
    client: httpx.AsyncClient, kind: ChannelType, names: dict[str, str]
) -> None:
    config = ChannelConfig(
        id="cfg", type=kind, name="cfg", url="https://example.test", credentials_env=names
    )
    missing = sorted(names.values())[-1]
    env = {variable: "value" for variable in names.values() if variable != missing}

    with pytest.raises(ValueError, match=rf"environment variable {missing} .* is not set"):
        build_http_channel(config, env, client)


async def test_from_config_says_which_credential_entry_is_missing(
    client: httpx.AsyncClient,
) -> None:
    config = ChannelConfig(id="cfg", type=ChannelType.X, name="cfg")

    with pytest.raises(ValueError, match=r"'cfg' \(x\) needs credentials_env.access_token"):
        XChannel.from_config(config, {}, client)


async def test_every_network_type_has_an_adapter_and_the_status_page_none(
    client: httpx.AsyncClient,
) -> None:
    config = ChannelConfig(id="status", type=ChannelType.STATUSPAGE, name="Status")

    assert set(HTTP_CHANNEL_FACTORIES) == set(CREDENTIALS)
    with pytest.raises(ValueError, match="type statuspage has no network adapter"):
        build_http_channel(config, {}, client)
