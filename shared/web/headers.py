"""Security headers on every response of every service, whatever produced it (a route, a
problem, a guard's refusal, a 404).

Each header is set only where the response has none, so a page with its own policy (the
console's CSP, the status page's) keeps it. No default Content-Security-Policy: `/docs` loads
Swagger UI's script and style from a CDN, and JSON answers with `nosniff` are not run.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` a response does not set itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.defaults = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in self.defaults if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
