"""The console's routes under `/console`, with its stylesheet and script at /console/static
(served from the package: no build step, no CDN)."""

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles

from services.router.console import actions, oidc, pages, signin
from services.router.console.web import STATIC_DIR

FORM_PREFIXES = ("/console/",)
"""Paths whose routes take HTML form bodies (the body guard lets them through)."""

router = APIRouter(include_in_schema=False)
for part in (signin.router, oidc.router, pages.router, actions.router):
    router.include_router(part, prefix="/console")
router.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
