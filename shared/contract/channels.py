"""Channel configuration (`config/channels.yaml`), read by the router and the publisher.

Credentials are never in the file: a channel names the environment variables that hold
them (`credentials_env`), and they are read at use, never logged.
"""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contract.config_files import load_yaml_model
from shared.contract.events import Language, Tag
from shared.contract.textlength import Counting

ChannelId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class ChannelType(StrEnum):
    STATUSPAGE = "statuspage"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    X = "x"
    TELEGRAM = "telegram"
    SLACK = "slack"
    WEBHOOK = "webhook"


class ChannelTags(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    regions: list[Tag] = Field(default_factory=list)
    departments: list[Tag] = Field(default_factory=list)


class ChannelConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: ChannelId
    type: ChannelType
    name: str = Field(min_length=1, max_length=200)
    tags: ChannelTags = ChannelTags()
    marketing: bool = False
    url: str | None = None
    max_chars: int | None = Field(default=None, ge=20, le=100_000)
    counting: Counting = Field(
        default="platform",
        description="`sms`: count and draft as one SMS (a webhook that feeds an SMS gateway)",
    )
    credentials_env: dict[str, str] = Field(default_factory=dict)
    languages: list[Language] = Field(
        default_factory=lambda: ["en"],
        min_length=1,
        max_length=10,
        description="languages its customers read, the first its main one: a draft has a "
        "text in each, posted as the platform suits best (docs/design.md, Languages)",
    )

    @model_validator(mode="after")
    def _languages_once(self) -> "ChannelConfig":
        if len(set(self.languages)) != len(self.languages):
            raise ValueError(f"channel {self.id!r} lists a language twice")
        return self


class ChannelsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    channels: list[ChannelConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> "ChannelsFile":
        seen: set[str] = set()
        for channel in self.channels:
            if channel.id in seen:
                raise ValueError(f"channel id {channel.id!r} appears twice")
            seen.add(channel.id)
        return self


def load_channels(path: Path) -> list[ChannelConfig]:
    """The channels in `path` (set CHANNELS_FILE); a missing or invalid file is an error."""
    return load_yaml_model(path, ChannelsFile).channels
