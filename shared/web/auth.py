"""Bearer-token authentication with roles.

Tokens are random strings handed to people; services only keep their SHA-256 digests (a
tokens file of `{"name", "role", "sha256"}` entries), so a leaked config leaks no token.
"""

import hashlib
import hmac
import json
import os
import secrets
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.runtime.private_files import private_folder


class Role(StrEnum):
    OPERATOR = "operator"
    DUTY_MANAGER = "duty_manager"
    MARKETING = "marketing"
    ADMIN = "admin"


class Principal(BaseModel):
    """Who is calling: a person (a personal token's name, or the identity provider's user)
    with their roles. `name` is what the audit log and the four-eyes rule compare, so it is
    stable; `display_name` is only for showing."""

    model_config = ConfigDict(frozen=True)
    name: str
    roles: frozenset[Role] = Field(min_length=1)
    display_name: str | None = None

    @classmethod
    def of(cls, name: str, *roles: Role, display_name: str | None = None) -> "Principal":
        return cls(name=name, roles=frozenset(roles), display_name=display_name)

    def has_any(self, roles: tuple[Role, ...]) -> bool:
        return Role.ADMIN in self.roles or not self.roles.isdisjoint(roles)

    @property
    def roles_text(self) -> str:
        """ "duty manager, operator": for pages and messages."""
        return ", ".join(sorted(r.value.replace("_", " ") for r in self.roles))

    @property
    def label(self) -> str:
        """ "Dana Scully (dana)", or the name alone when there is no other display name."""
        shown = self.display_name
        return f"{shown} ({self.name})" if shown and shown != self.name else self.name


class TokenEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: Role
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


_ENTRIES = TypeAdapter(list[TokenEntry])


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Looks a presented token up by digest, in constant time per entry."""

    def __init__(self, entries: list[TokenEntry]) -> None:
        self._entries = entries

    @classmethod
    def from_file(cls, path: Path) -> "TokenStore":
        if not path.exists():
            raise FileNotFoundError(
                f"tokens file {path} not found: run `planb tokens` or set TOKENS_FILE"
            )
        return cls(_ENTRIES.validate_json(path.read_bytes()))

    def authenticate(self, token: str) -> Principal | None:
        return self.by_digest(digest(token))

    def by_digest(self, presented: str) -> Principal | None:
        """The principal whose token has this SHA-256 digest (a console session keeps the
        digest, never the token, and is refused once the token is withdrawn)."""
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.sha256, presented):
                found = Principal.of(entry.name, entry.role)
        return found


# The dev tokens' keys in dev-tokens.json and their roles: one per role, and a second duty
# manager so the four-eyes rule (an editor may not approve their own edit) can be shown
# locally without an admin.
DEV_TOKEN_ROLES: dict[str, Role] = {role.value: role for role in Role} | {
    "duty_manager_2": Role.DUTY_MANAGER
}


def generate_dev_tokens(data_dir: Path) -> dict[str, str]:
    """Create the dev tokens (`DEV_TOKEN_ROLES`): plain ones in `dev-tokens.json` (0600),
    digests in `tokens.json` for the services. Existing tokens are kept so they survive
    restarts; a key missing from an older file is added."""
    plain_path = data_dir / "dev-tokens.json"
    hashed_path = data_dir / "tokens.json"
    private_folder(data_dir)
    plain: dict[str, str] = json.loads(plain_path.read_text()) if plain_path.exists() else {}
    missing = [key for key in DEV_TOKEN_ROLES if key not in plain]
    if missing:
        plain |= {key: f"pb_{key}_{secrets.token_urlsafe(24)}" for key in missing}
        write_private(plain_path, json.dumps(plain, indent=2) + "\n")
    entries = [
        TokenEntry(name=f"dev-{key}", role=DEV_TOKEN_ROLES[key], sha256=digest(token))
        for key, token in plain.items()
        if key in DEV_TOKEN_ROLES
    ]
    write_private(hashed_path, _ENTRIES.dump_json(entries, indent=2).decode() + "\n")
    return plain


def write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.chmod(path, 0o600)
