from typing import Any

from authlib.integrations.base_client import OAuthError as OAuthError

class StarletteOAuth2App:
    client_id: str
    async def load_server_metadata(self) -> dict[str, Any]: ...
    async def create_authorization_url(
        self, redirect_uri: str | None = None, **kwargs: Any
    ) -> dict[str, str]: ...
    async def fetch_access_token(
        self, redirect_uri: str | None = None, **kwargs: Any
    ) -> dict[str, Any]: ...
    async def parse_id_token(
        self,
        token: dict[str, Any],
        nonce: str | None,
        claims_options: dict[str, Any] | None = None,
        claims_cls: type | None = None,
        leeway: int = 120,
    ) -> dict[str, Any]: ...

class OAuth:
    def __init__(
        self,
        config: Any = None,
        cache: Any = None,
        fetch_token: Any = None,
        update_token: Any = None,
    ) -> None: ...
    def register(self, name: str, overwrite: bool = False, **kwargs: Any) -> StarletteOAuth2App: ...
