"""The media routes: ``/api/media`` (the seed's upload flow).

:data:`router` holds them all (what :mod:`prework.app` mounts).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response, status
from fastapi.responses import RedirectResponse

from prework.http.deps import area_services
from prework.http.openapi import answers
from prework.http.routing import APIRouter
from prework.http.schemas import PathId
from prework.http.security import Ctx, CurrentPrincipal
from prework.media.schemas import (
    ConfirmRequest,
    MediaRead,
    UploadForm,
    UploadGranted,
    UploadRequest,
)
from prework.media.service import MediaService

__all__ = ["router"]

MediaDep = Annotated[MediaService, Depends(area_services("media", MediaService))]

router = APIRouter(prefix="/api/media", tags=["media"])
_NO_STORE = {"Cache-Control": "no-store"}  # the answers hold short-lived signed links


@router.post(
    "/upload-url",
    status_code=status.HTTP_201_CREATED,
    summary="Ask for a form to upload a file straight to storage (then confirm it)",
    responses=answers(404, 413),
)
async def request_upload(
    body: UploadRequest,
    principal: CurrentPrincipal,
    media: MediaDep,
    ctx: Ctx,
    response: Response,
) -> UploadGranted:
    record, form = await media.request_upload(
        principal=principal,
        ctx=ctx,
        filename=body.filename,
        content_type=body.content_type,
        size=body.size,
        purpose=body.purpose,
        target=body.target.model(),
        sha256=body.sha256.lower() if body.sha256 else None,
    )
    response.headers.update(_NO_STORE)
    return UploadGranted(
        media=MediaRead.of(record),
        upload=UploadForm(url=form.url, fields=form.fields, expires_at=form.expires_at),
    )


@router.post(
    "/confirm-upload",
    summary="Confirm an upload: the stored file is checked and becomes ready (or is rejected)",
    responses=answers(404, 409, 413),
)
async def confirm_upload(
    body: ConfirmRequest,
    principal: CurrentPrincipal,
    media: MediaDep,
    ctx: Ctx,
) -> MediaRead:
    record = await media.confirm(principal=principal, ctx=ctx, media_id=body.media_id)
    return MediaRead.of(record)


@router.get("/{media_id}", summary="A file's metadata, with short-lived download links")
async def get_media(
    media_id: PathId,
    principal: CurrentPrincipal,
    media: MediaDep,
    ctx: Ctx,
    response: Response,
) -> MediaRead:
    links = await media.get(principal=principal, ctx=ctx, media_id=media_id)
    response.headers.update(_NO_STORE)
    return MediaRead.of(links.media, links)


@router.get(
    "/{media_id}/content",
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    response_class=RedirectResponse,
    summary="Redirect to a short-lived link of the file's content",
    responses={**answers(409), 307: {"description": "The file's short-lived link"}},
)
async def media_content(
    media_id: PathId,
    principal: CurrentPrincipal,
    media: MediaDep,
    ctx: Ctx,
) -> RedirectResponse:
    url = await media.content_url(principal=principal, ctx=ctx, media_id=media_id)
    return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT, headers=_NO_STORE)
