"""Router's configuration (environment variables)."""

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.runtime.settings import CommonSettings


class RouterSettings(CommonSettings):
    service_name: str = "router"
    policy_file: Path | None = None
    marketing_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, description="How often the scheduler looks for due posts"
    )
    maintenance_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How often planned works are started and ended (their pauses and "
        "announcements follow within this)",
    )
    display_timezone: str = Field(
        default="UTC",
        description="IANA zone (`Europe/London`) of the times customers read: the router's "
        "'Next update by HH:MM' in drafts and every time on the status page, marked with it "
        "(`15:05 BST`); set the same for both so a page never mixes two zones",
    )
    templates_dir: Path | None = Field(
        default=None,
        description="Draft templates that replace the built-in ones (default CONFIG_DIR/templates)",
    )
    escalation_interval_seconds: float = Field(
        default=15,
        gt=0,
        le=300,
        description="How often overdue drafts and passed next-update promises are looked for",
    )

    console_secret: SecretStr | None = Field(
        default=None,
        description="Signs the web console's session cookies and CSRF tokens (at least 32 "
        "characters), the same on every router replica; required in production; elsewhere, "
        "when unset, a random one is generated into DATA_DIR/console-secret",
    )
    console_session_hours: float = Field(
        default=12, gt=0, le=168, description="How long a console sign-in lasts at most"
    )
    console_idle_minutes: float = Field(
        default=30,
        gt=0,
        le=24 * 60,
        description="A console session unused this long ends (signing in again starts anew)",
    )

    oidc_issuer: str | None = Field(
        default=None,
        description="The identity provider's issuer URL (its `/.well-known/openid-configuration` "
        "is read from there); set with OIDC_CLIENT_ID and OIDC_CLIENT_SECRET, the console "
        "offers sign-in through it beside the token sign-in",
    )
    oidc_client_id: str | None = Field(default=None, description="The console's client id there")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="The console's client secret there"
    )
    oidc_provider_name: str = Field(
        default="single sign-on", description="What the sign-in button calls the provider"
    )
    oidc_scopes: str = Field(
        default="openid profile email", description="Scopes asked for (must include openid)"
    )
    oidc_roles_claim: str = Field(
        default="groups",
        description="The ID token claim whose values (a list or a string) OIDC_ROLES_FILE maps "
        "to Plan B roles",
    )
    oidc_name_claim: str = Field(
        default="preferred_username",
        description="The claim that names the person in the audit log and the four-eyes rule "
        "(`sub` when absent); the `name` claim is shown beside it",
    )
    oidc_roles_file: Path | None = Field(
        default=None, description="Claim values to roles (default CONFIG_DIR/oidc-roles.yaml)"
    )
    oidc_redirect_url: str | None = Field(
        default=None,
        description="The callback URL registered with the provider; unset: "
        "`/console/oidc/callback` on the address the browser used",
    )

    @field_validator("console_secret")
    @classmethod
    def _no_placeholder_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if len(secret) < 32 or len(set(secret)) < 8 or "change" in secret.lower():
            raise ValueError(
                "CONSOLE_SECRET must be a random string of at least 32 characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return value

    @model_validator(mode="after")
    def _console_secret_in_production(self) -> "RouterSettings":
        if self.environment == "production" and self.console_secret is None:
            raise ValueError(
                "CONSOLE_SECRET must be set when ENVIRONMENT=production (one value for every "
                "router replica, or a console sign-in works on one pod only)"
            )
        return self

    @property
    def holds_accounts(self) -> bool:
        return True

    @model_validator(mode="after")
    def _accounts_in_own_database(self) -> "RouterSettings":
        url = self.accounts_database_url
        if url and url != self.resolved_database_url():
            raise ValueError(
                "ACCOUNTS_DATABASE_URL on the router must be its own DATABASE_URL (or unset): "
                "the router keeps the accounts in its database and audits their changes there"
            )
        return self

    @model_validator(mode="after")
    def _oidc_complete(self) -> "RouterSettings":
        given = [self.oidc_issuer, self.oidc_client_id, self.oidc_client_secret]
        if any(given) and not all(given):
            raise ValueError(
                "OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET go together (all or none)"
            )
        if "openid" not in self.oidc_scopes.split():
            raise ValueError("OIDC_SCOPES must include openid")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None

    def resolved_oidc_roles_file(self) -> Path:
        return self.oidc_roles_file or self.config_dir / "oidc-roles.yaml"

    def resolved_policy_file(self) -> Path:
        return self.policy_file or self.config_dir / "policy.yaml"

    def resolved_templates_dir(self) -> Path:
        return self.templates_dir or self.config_dir / "templates"


def get_settings() -> RouterSettings:
    return RouterSettings()
