"""Which incidents pause which channels (`config/policy.yaml`).

Rules are read top to bottom; the first whose `severities` contain the incident's severity
decides. `scope: all` pauses every marketing-enabled channel, `scope: regions` only those
whose region tags meet the incident's regions, `scope: none` nothing.
"""

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from shared.channels import ChannelConfig
from shared.events import Severity
from shared.yamlconfig import load_yaml_model


class PauseScope(StrEnum):
    ALL = "all"
    REGIONS = "regions"
    NONE = "none"


class PauseRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    severities: list[Severity] = Field(min_length=1)
    scope: PauseScope


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    pause: list[PauseRule] = Field(
        default_factory=lambda: [
            PauseRule(severities=[Severity.SEV1, Severity.SEV2], scope=PauseScope.ALL),
            PauseRule(severities=[Severity.SEV3], scope=PauseScope.REGIONS),
            PauseRule(severities=[Severity.SEV4], scope=PauseScope.NONE),
        ]
    )

    def channels_to_pause(
        self, severity: Severity, regions: list[str], channels: list[ChannelConfig]
    ) -> list[ChannelConfig]:
        """The marketing channels an incident of this severity and these regions pauses."""
        scope = next((r.scope for r in self.pause if severity in r.severities), PauseScope.NONE)
        candidates = [c for c in channels if c.marketing]
        if scope is PauseScope.ALL:
            return candidates
        if scope is PauseScope.REGIONS:
            wanted = set(regions)
            return [c for c in candidates if wanted & set(c.tags.regions)]
        return []


def load_policy(path: Path) -> Policy:
    """The policy in `path`, or the default policy of DESIGN.md when the file is absent."""
    return load_yaml_model(path, Policy, default=Policy())
