"""The router's policy (`config/policy.yaml`): what an incident pauses, when held marketing
resumes, and what approval a draft needs.

Pause rules are read top to bottom; the first rule that matches the incident (its severity is
listed and, when the rule names `services`, the incident affects one of them) decides:
`scope: all` pauses every marketing channel, `scope: regions` those whose region tags meet the
incident's regions, `scope: none` nothing. A rule's `channel_tags` narrows either scope to
channels carrying one of those tags. An incident no rule matches pauses nothing.
"""

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contract.channels import ChannelConfig, ChannelTags
from shared.contract.config_files import load_yaml_model
from shared.contract.events import Severity, Tag


class PauseScope(StrEnum):
    ALL = "all"
    REGIONS = "regions"
    NONE = "none"


class PauseRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    severities: list[Severity] = Field(min_length=1)
    scope: PauseScope
    services: list[Tag] = Field(
        default_factory=list, description="Only incidents affecting one of these services"
    )
    channel_tags: ChannelTags | None = Field(
        default=None, description="Only channels carrying one of these region/department tags"
    )

    def matches(self, severity: Severity, services: list[str]) -> bool:
        return severity in self.severities and (
            not self.services or bool(set(self.services) & set(services))
        )

    def admits(self, channel: ChannelConfig) -> bool:
        """Whether `channel_tags` (if any) lets this rule pause the channel."""
        if self.channel_tags is None:
            return True
        return bool(
            set(self.channel_tags.regions) & set(channel.tags.regions)
            or set(self.channel_tags.departments) & set(channel.tags.departments)
        )


class ResumePolicy(BaseModel):
    """What happens to held marketing posts once no incident pauses their channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    auto_after_minutes: int | None = Field(
        default=None,
        ge=1,
        le=10_080,
        description="Resume by itself this long after the last pausing incident resolved; "
        "null (the default) waits for a duty manager",
    )
    spread_minutes: int = Field(
        default=60,
        ge=1,
        le=10_080,
        description="An automatic resume spreads overdue posts over this window",
    )


def _default_escalation() -> dict[Severity, int]:
    return {Severity.SEV1: 5, Severity.SEV2: 10, Severity.SEV3: 30, Severity.SEV4: 60}


class ApprovalPolicy(BaseModel):
    """Who may approve a draft and how long a draft may wait before it is escalated."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    four_eyes: list[Severity] = Field(
        default_factory=lambda: [Severity.SEV1, Severity.SEV2],
        description="Severities whose drafts the incident's raiser or last editor cannot "
        "approve alone",
    )
    escalate_after_minutes: dict[Severity, int] = Field(
        default_factory=_default_escalation,
        description="A draft pending longer than this is overdue and escalated",
    )
    auto_approve: list[Severity] = Field(
        default_factory=list,
        description="Severities whose drafts the router approves as they are written (actor "
        "`policy`); never a severity in four_eyes",
    )

    @model_validator(mode="after")
    def _positive_limits(self) -> "ApprovalPolicy":
        for severity, minutes in self.escalate_after_minutes.items():
            if not 1 <= minutes <= 1440:
                raise ValueError(f"escalate_after_minutes.{severity}: {minutes} not in 1-1440")
        return self

    @model_validator(mode="after")
    def _no_auto_approval_under_four_eyes(self) -> "ApprovalPolicy":
        """A rule that wants a second person cannot be met by nobody at all."""
        both = [s.value for s in self.auto_approve if s in self.four_eyes]
        if both:
            raise ValueError(
                f"auto_approve lists {', '.join(both)}, which four_eyes also lists: drafts "
                "that need a second person cannot be approved by the policy alone"
            )
        return self

    def needs_four_eyes(self, severity: Severity) -> bool:
        return severity in self.four_eyes

    def approves_itself(self, severity: Severity) -> bool:
        """Whether drafts of this severity are approved by the policy as they are written."""
        return severity in self.auto_approve

    def escalation_limit(self, severity: Severity) -> int | None:
        """Minutes a draft of this severity may stay pending; None: never escalated."""
        return self.escalate_after_minutes.get(severity)


def _default_pause_rules() -> list[PauseRule]:
    return [
        PauseRule(severities=[Severity.SEV1, Severity.SEV2], scope=PauseScope.ALL),
        PauseRule(severities=[Severity.SEV3], scope=PauseScope.REGIONS),
        PauseRule(severities=[Severity.SEV4], scope=PauseScope.NONE),
    ]


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    pause: list[PauseRule] = Field(default_factory=_default_pause_rules)
    resume: ResumePolicy = ResumePolicy()
    approval: ApprovalPolicy = ApprovalPolicy()

    def rule_for(self, severity: Severity, services: list[str]) -> PauseRule | None:
        return next((r for r in self.pause if r.matches(severity, services)), None)

    def channels_to_pause(
        self,
        severity: Severity,
        regions: list[str],
        channels: list[ChannelConfig],
        *,
        services: list[str] | None = None,
    ) -> list[ChannelConfig]:
        """The marketing channels an incident of this severity, regions and services pauses."""
        rule = self.rule_for(severity, services or [])
        if rule is None or rule.scope is PauseScope.NONE:
            return []
        candidates = [c for c in channels if c.marketing and rule.admits(c)]
        if rule.scope is PauseScope.REGIONS:
            wanted = set(regions)
            return [c for c in candidates if wanted & set(c.tags.regions)]
        return candidates


def load_policy(path: Path) -> Policy:
    """The policy in `path`, or the default policy (docs/design.md) when the file is absent."""
    return load_yaml_model(path, Policy, default=Policy())
