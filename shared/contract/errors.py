"""What the domain refuses to do, raised by domain code and background jobs alike. Nothing
here knows HTTP: the edge (`shared.web.problems`) maps each kind to its status once, and a
job that meets one decides for itself (log it, leave the work for a person).

    DomainError            the domain will not do this; a title, a sentence, and facts
     ├── NotFound          the thing named does not exist                        (404)
     ├── NotAllowed        a rule of who may do what forbids it: the four-eyes rule (403)
     ├── Conflict          the thing's state does not allow it now               (409)
     └── Rejected          what was asked breaks a domain rule: unknown channel,
                           text too long, a time in the past                     (422)
"""

from typing import Any


class DomainError(Exception):
    """A refusal: `title` names the rule (and, as a slug, the problem type), `detail` says
    what happened in a sentence a duty manager can act on, `facts` are machine-readable."""

    def __init__(self, title: str, detail: str | None = None, **facts: Any) -> None:
        super().__init__(detail or title)
        self.title = title
        self.detail = detail
        self.facts = facts

    @property
    def slug(self) -> str:
        """The rule's name as a problem type slug: "Four-eyes rule" → "four-eyes-rule"."""
        return self.title.lower().replace(" ", "-")


class NotFound(DomainError):
    """The draft, post or incident named does not exist."""


class NotAllowed(DomainError):
    """The caller may not do this, whatever the state: the four-eyes rule."""


class Conflict(DomainError):
    """The thing's current state does not allow it (a decided draft, a resolved incident)."""


class Rejected(DomainError):
    """The request's content breaks a domain rule."""
