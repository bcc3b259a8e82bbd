"""The publisher's HTTP routes: the public status page (no auth) and the delivery API."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.publisher import read_models
from services.publisher.component_board import HISTORY_DAYS, component_board, incident_spans
from services.publisher.deps import ChannelsDep, ComponentsDep, DispatcherDep, SettingsDep
from services.publisher.languages import choose_language, in_language, page_languages
from services.publisher.pages import render_atom, render_status_html
from services.publisher.planned_works import shown_works, works_spans
from services.publisher.schemas import ChannelHealth, DeliveryOut, StatusBoard
from shared.web.deps import AnyRoleDep, ReadSessionDep
from shared.web.paging import CursorParam, link_next

ATOM = "application/atom+xml; charset=utf-8"
STATUS_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

status_router = APIRouter(tags=["status page"])
api_router = APIRouter(prefix="/v1", tags=["deliveries"])


LangParam = Annotated[
    str | None,
    Query(
        max_length=16,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z]{2})?$",
        description="The language to read it in (one the page serves); default: the "
        "browser's Accept-Language, else the page's main language",
    ),
]


async def _board(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    channels: ChannelsDep,
    components: ComponentsDep,
    lang: LangParam = None,
) -> StatusBoard:
    """The board in the language this request reads (`?lang=`, `Accept-Language`)."""
    served = page_languages(channels.channels)
    language = choose_language(served, asked=lang, header=request.headers.get("accept-language"))
    board = await read_models.status_board(
        session,
        title=settings.status_page_title,
        public_base_url=settings.public_base_url,
        incidents=settings.status_page_incidents,
        updates=settings.status_page_updates * len(served),  # each language its own
    )
    board = in_language(board, language, served, updates=settings.status_page_updates)
    since = board.generated_at - timedelta(days=HISTORY_DAYS)
    spans = await incident_spans(session, components=components, since=since)
    spans += await works_spans(session, since=since)
    board.maintenance = await shown_works(session)
    board.components = component_board(components, spans, now=board.generated_at)
    board.subscribe_by_email = settings.smtp_url is not None
    return board


BoardDep = Annotated[StatusBoard, Depends(_board)]


def _language_headers(board: StatusBoard) -> dict[str, str]:
    return {"Content-Language": board.language, "Vary": "Accept-Language"}


@status_router.get("/status", response_class=HTMLResponse, summary="The public status page")
async def status_page(board: BoardDep, settings: SettingsDep) -> HTMLResponse:
    """Components and their 90 days; open and recent incidents, each with its updates
    newest first, in the reader's language and the configured time zone."""
    html = render_status_html(board, zone=settings.zone)
    headers = {"Content-Security-Policy": STATUS_PAGE_CSP, **_language_headers(board)}
    return HTMLResponse(html, headers=headers)


@status_router.get("/status.json", response_model=StatusBoard, summary="The status page as JSON")
async def status_json(board: BoardDep, response: Response) -> StatusBoard:
    response.headers.update(_language_headers(board))
    return board


@status_router.get(
    "/status/feed.atom",
    response_class=Response,
    responses={200: {"content": {ATOM: {}}}},
    summary="The status page as an Atom 1.0 feed",
)
async def status_feed(request: Request, board: BoardDep, settings: SettingsDep) -> Response:
    """One entry per published update, for feed readers and chat integrations."""
    feed_url = f"{settings.public_base_url.rstrip('/')}{request.url.path}"
    if board.language != board.languages[0]:  # the main language's feed keeps its old id
        feed_url += f"?lang={board.language}"
    return Response(
        render_atom(board, feed_url=feed_url),
        media_type=ATOM,
        headers=_language_headers(board),
    )


@api_router.get("/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    request: Request,
    response: Response,
    _principal: AnyRoleDep,
    session: ReadSessionDep,
    message_id: Annotated[str | None, Query(max_length=200)] = None,
    incident_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: CursorParam = None,
) -> list[DeliveryOut]:
    """What happened to each message, newest first; filter by message or incident; paged."""
    deliveries, following = await read_models.find_deliveries(
        session, message_id=message_id, incident_id=incident_id, limit=limit, cursor=cursor
    )
    link_next(request, response, following)
    return deliveries


@api_router.get("/channels/health", response_model=list[ChannelHealth])
async def channels_health(
    _principal: AnyRoleDep,
    session: ReadSessionDep,
    channels: ChannelsDep,
    dispatcher: DispatcherDep,
) -> list[ChannelHealth]:
    """Every configured channel: adapter, pause, delivery counts, circuit breaker."""
    return await read_models.channel_health(
        session, channels=channels, breakers=dispatcher.breakers
    )
