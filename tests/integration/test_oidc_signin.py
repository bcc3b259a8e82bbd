"""Console sign-in through a real OpenID provider on loopback (oidc-provider, in Node):
the authorization code flow with PKCE end to end, and what must be refused: an ID token
whose signature is not the provider's, one meant for another client, a replayed `state`,
and a person none of whose groups maps to a role (403, saying why)."""

import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from services.router.console.oidc import Oidc
from services.router.models import Base
from services.router.settings import RouterSettings
from shared.devtools.broker import free_port
from shared.runtime.service import Runtime
from tests.unit.router.approval_harness import Clock, wired_app

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DIR = ROOT / "tests" / "oidc"
ROUTER = "https://router"
SECRET = "a-client-secret-for-the-console-tests"
ACCOUNTS = {
    "u-dana": {
        "name": "Dana Scully",
        "preferred_username": "dana",
        "groups": ["planb-duty-managers", "staff"],
    },
    "u-vic": {"name": "Vic Visitor", "preferred_username": "vic", "groups": ["staff"]},
}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the OpenID provider (apt-get install nodejs npm)")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PROVIDER_DIR,
            check=True,
            capture_output=True,
            timeout=600,
        )
    port = free_port()
    config = {
        "clients": [
            {
                "client_id": "planb-console",
                "client_secret": SECRET,
                "redirect_uris": [f"{ROUTER}/console/oidc/callback"],
            }
        ],
        "accounts": ACCOUNTS,
    }
    log = (tmp_path_factory.mktemp("oidc") / "provider.log").open("wb")
    process = subprocess.Popen(
        [node, "provider.mjs"],
        cwd=PROVIDER_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PORT": str(port), "OIDC_TEST_CONFIG": json.dumps(config)},
    )
    issuer = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=2) as http:
            for _ in range(300):
                try:
                    if http.get(f"{issuer}/.well-known/openid-configuration").is_success:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, "the OpenID provider exited; see its log"
                subprocess.run(["sleep", "0.1"], check=True)
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


class Browser:
    """A browser between the router (in process) and the provider (a real server): each
    keeps its own cookies, and redirects are followed across the two by hand."""

    def __init__(self, router: httpx.AsyncClient, idp: httpx.AsyncClient) -> None:
        self.router = router
        self.idp = idp

    async def sign_in(self, user: str, mode: str = "honest") -> tuple[httpx.Response, str]:
        """Through the provider as `user`; the router's answer to the callback, and its URL."""
        await self.idp.get("/test/next", params={"user": user, "mode": mode})
        started = await self.router.get("/console/oidc/start", params={"next": "/console"})
        assert started.status_code == 303, started.text
        location = started.headers["location"]
        assert "code_challenge_method=S256" in location
        assert "nonce=" in location
        while not location.startswith(ROUTER):
            answer = await self.idp.get(location)
            assert answer.status_code in (302, 303), answer.text
            location = answer.headers["location"]
        callback = location.removeprefix(ROUTER)
        return await self.router.get(callback), callback


@pytest.fixture
async def browser(provider: str, tmp_path: Path, database_url: str) -> AsyncIterator[Browser]:
    settings = RouterSettings(
        environment="test",
        data_dir=tmp_path,
        database_url=database_url,
        config_dir=tmp_path,
        oidc_issuer=provider,
        oidc_client_id="planb-console",
        oidc_client_secret=SECRET,
        oidc_roles_file=ROOT / "config" / "oidc-roles.yaml",
        oidc_provider_name="Example SSO",
    )
    runtime = Runtime(settings, metadata=Base.metadata)
    await runtime.database.create_all(Base.metadata)
    app = wired_app(settings, runtime, Clock())
    app.state.oidc = Oidc(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url=ROUTER) as router,
        httpx.AsyncClient(base_url=provider, timeout=10) as idp,
    ):
        yield Browser(router, idp)
    await runtime.database.dispose()


async def test_the_sign_in_page_offers_both_ways(browser: Browser) -> None:
    page = await browser.router.get("/console/login")
    assert "Sign in with Example SSO" in page.text
    assert 'name="token"' in page.text


async def test_a_good_sign_in_names_the_person_and_their_roles(browser: Browser) -> None:
    answer, _ = await browser.sign_in("u-dana")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console"
    page = await browser.router.get("/console")
    assert page.status_code == 200
    assert "Dana Scully (dana)" in page.text
    assert "duty manager" in page.text
    assert re.search(r"until \d\d:\d\d", page.text)


async def test_a_replayed_state_is_refused(browser: Browser) -> None:
    first, callback = await browser.sign_in("u-dana")
    assert first.status_code == 303
    replayed = await browser.router.get(callback)
    assert replayed.status_code == 400
    assert "used already" in replayed.text


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        # not signed with the provider's key
        ("forged-signature", "not signed with the provider&#39;s published keys"),
        # the provider's own, but for another client
        ("wrong-audience", "the ID token&#39;s `aud` claim is wrong or missing"),
    ],
)
async def test_an_id_token_that_does_not_check_out_is_refused(
    browser: Browser, mode: str, why: str
) -> None:
    answer, _ = await browser.sign_in("u-dana", mode=mode)
    assert answer.status_code == 401
    assert "did not check out" in answer.text
    assert why in answer.text
    assert (await browser.router.get("/console")).status_code == 303


async def test_a_person_without_a_mapped_role_gets_a_page_saying_why(browser: Browser) -> None:
    answer, _ = await browser.sign_in("u-vic")
    assert answer.status_code == 403
    assert "Vic Visitor" in answer.text
    assert (
        "none of your <code>groups</code>" in answer.text or "none of your `groups`" in answer.text
    )
    assert "staff" in answer.text
    assert "oidc-roles.yaml" in answer.text
    assert (await browser.router.get("/console")).status_code == 303
