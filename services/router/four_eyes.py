"""The four-eyes rule: for the severities the policy names, nobody approves their own words.

A draft's authors are whoever raised its incident, whoever last updated (or resolved) it, and
whoever last edited one of the texts being approved. None of them may approve it: another
person must. "Alone" is read strictly and simply: the approval needs a second person, not a
second click, so an author's approval never counts as half of one. An admin is a person too
and is bound the same way.

The rule goes by the highest severity the incident has had, not its current one: otherwise
whoever raised a sev1 could lower it to sev3 with an update and approve the new draft alone.
"""

from services.router.models import DraftText, Incident
from services.router.policy import ApprovalPolicy
from shared.contract.errors import NotAllowed
from shared.contract.events import Severity
from shared.web.auth import Principal


def authorship(incident: Incident, texts: list[DraftText]) -> dict[str, list[str]]:
    """Each author's name with what they wrote, in the order a reader expects."""
    authors: dict[str, list[str]] = {}
    authors.setdefault(incident.raised_by, []).append("raised this incident")
    if incident.last_updated_by:
        authors.setdefault(incident.last_updated_by, []).append("last updated this incident")
    for row in texts:
        if row.edited_by:
            authors.setdefault(row.edited_by, []).append(f"edited the {row.channel_id} text")
    return authors


def check_four_eyes(
    policy: ApprovalPolicy, incident: Incident, texts: list[DraftText], *, by: Principal
) -> None:
    """Refuse (403, saying why) an approval by one of the draft's authors where the rule is on."""
    severity = Severity(incident.highest_severity)
    if not policy.needs_four_eyes(severity):
        return
    deeds = authorship(incident, texts).get(by.name)
    if not deeds:
        return
    was = f" (it was {severity.value}; it is {incident.severity} now)"
    raise NotAllowed(
        "Four-eyes rule",
        f"four-eyes rule for {severity.value}{was if severity != incident.severity else ''}: "
        f"{by.name} {_and(deeds)}; another duty manager must approve.",
        severity=severity.value,
        authors=sorted(authorship(incident, texts)),
    )


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
