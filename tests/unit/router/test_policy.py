"""The default pause policy (docs/design.md, "Policy"), and a policy file that is wrong."""

from pathlib import Path

import pytest

from services.router.policy import Policy, load_policy
from shared.contract.channels import ChannelConfig, ChannelTags, ChannelType
from shared.contract.config_files import ConfigFileError
from shared.contract.events import Severity


def channel(id_: str, regions: list[str], marketing: bool = True) -> ChannelConfig:
    return ChannelConfig(
        id=id_,
        type=ChannelType.MASTODON,
        name=id_,
        marketing=marketing,
        tags=ChannelTags(regions=regions),
    )


CHANNELS = [
    channel("north", ["north"]),
    channel("south", ["south"]),
    channel("both", ["north", "south"]),
    channel("status", ["all"], marketing=False),
]


@pytest.mark.parametrize(
    ("severity", "regions", "expected"),
    [
        (Severity.SEV1, [], ["north", "south", "both"]),
        (Severity.SEV2, ["north"], ["north", "south", "both"]),
        (Severity.SEV3, ["north"], ["north", "both"]),
        (Severity.SEV3, [], []),
        (Severity.SEV4, ["north"], []),
    ],
)
def test_default_policy(severity: Severity, regions: list[str], expected: list[str]) -> None:
    paused = Policy().channels_to_pause(severity, regions, CHANNELS)
    assert [c.id for c in paused] == expected


def test_repo_policy_file_is_the_default(tmp_path: Path) -> None:
    assert load_policy(Path("config/policy.yaml")) == Policy()
    assert load_policy(tmp_path / "absent.yaml") == Policy()


def test_a_wrong_policy_file_says_where(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("pause:\n  - severities: [sev9]\n    scope: all\n")
    with pytest.raises(ConfigFileError, match=r"policy.yaml: .*pause.0.severities.0"):
        load_policy(path)
