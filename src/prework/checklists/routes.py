"""The checklist routes: ``/api/templates``.

:data:`router` holds them all (what :mod:`prework.app` mounts).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Query, Request, Response, status

from prework.checklists.models import Template
from prework.checklists.permissions import ChecklistAction
from prework.checklists.schemas import (
    TemplateCreate,
    TemplateExport,
    TemplateRead,
    TemplateSummary,
    TemplateUpdate,
    TemplateVersionRead,
)
from prework.checklists.services import Checklists
from prework.http.bodies import body_bounds
from prework.http.deps import area_services
from prework.http.pages import page_answer
from prework.http.routing import APIRouter
from prework.http.schemas import Cursor, Limit, Page, PathId, VersionBody
from prework.http.security import Ctx, CurrentPrincipal
from prework.http.versioning import expected_version, patch_changes, set_etag

# the page models of this module's listings (parametrized once, not per request)
TemplatePage = Page[TemplateSummary]

__all__ = ["router"]

ChecklistsDep = Annotated[Checklists, Depends(area_services("checklists", Checklists))]
# a version number in a path: 1..999999; anything else names no version (404)
VersionNumber = Annotated[str, Path(min_length=1, max_length=64, description="1, 2, ...")]
_NUMBER = re.compile(r"[1-9][0-9]{0,5}", re.ASCII)


def _number(raw: str) -> int:
    return int(raw) if _NUMBER.fullmatch(raw) else 0  # 0: the service answers 404


router = APIRouter(prefix="/api/templates", tags=["templates"])
# a template within its limits (500 items, 200 choices each) is at most ~35,000 object
# keys, ~23,000 array items and 16 levels deep: the bounds of the routes that take one
# (its bytes: the server's PREWORK_MAX_BODY_BYTES only)
TEMPLATE_BODY = body_bounds(depth=32, keys=60_000, items=30_000, max_bytes=None)

_ERRORS: dict[int | str, dict[str, str]] = {
    422: {
        "description": "`validation_failed` (shape) or `invalid_template` (rules: "
        "`details.errors` = [{path, code, message}])"
    },
}


def _read(response: Response, template: Template) -> TemplateRead:
    set_etag(response, template.version)
    return TemplateRead.of(template)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a draft template (owner/admin)",
    responses=_ERRORS,
)
@TEMPLATE_BODY
async def create_template(
    body: TemplateCreate,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    response: Response,
) -> TemplateRead:
    template = await checklists.templates.create(
        principal=principal,
        ctx=ctx,
        name=body.name,
        description=body.description,
        definition=body.definition.stored(),
    )
    return _read(response, template)


@router.get(
    "",
    response_model=TemplatePage,
    summary="The organization's templates (workers: published ones)",
)
async def list_templates(
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Response:
    page = await checklists.templates.list(principal=principal, ctx=ctx, limit=limit, cursor=cursor)
    return page_answer(TemplatePage, page)


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    summary="Create a draft template from an export document (owner/admin)",
    responses=_ERRORS,
)
@TEMPLATE_BODY
async def import_template(
    body: TemplateExport,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    response: Response,
) -> TemplateRead:
    template = await checklists.templates.create(
        principal=principal,
        ctx=ctx,
        name=body.name,
        description=body.description,
        definition=body.definition.stored(),
        action=ChecklistAction.TEMPLATE_IMPORT,
        source=body.source.model_dump() if body.source else None,
    )
    return _read(response, template)


@router.get("/{template_id}", summary="A template with its draft (owner/admin/auditor)")
async def get_template(
    template_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    response: Response,
) -> TemplateRead:
    template = await checklists.templates.get(principal=principal, ctx=ctx, template_id=template_id)
    return _read(response, template)


@router.patch(
    "/{template_id}",
    summary="Edit the draft (owner/admin; If-Match or version)",
    responses=_ERRORS,
)
@TEMPLATE_BODY
async def update_template(
    template_id: PathId,
    body: TemplateUpdate,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> TemplateRead:
    changes = patch_changes(body, required="name")
    if "definition" in changes:
        if body.definition is None:
            changes.pop("definition")
        else:
            changes["definition"] = body.definition.stored()
    template = await checklists.templates.update(
        principal=principal,
        ctx=ctx,
        template_id=template_id,
        changes=changes,
        expected_version=expected_version(request, body.version),
    )
    return _read(response, template)


@router.post(
    "/{template_id}/publish",
    summary="Freeze the draft as the next numbered version (owner/admin)",
)
async def publish_template(
    template_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
    body: VersionBody | None = None,
) -> TemplateVersionRead:
    template, version = await checklists.templates.publish(
        principal=principal,
        ctx=ctx,
        template_id=template_id,
        expected_version=expected_version(request, body.version if body else None),
    )
    set_etag(response, template.version)
    return TemplateVersionRead.of(version)


@router.post(
    "/{template_id}/retire",
    summary="Stop new assignments; existing ones keep their version (owner/admin)",
)
async def retire_template(
    template_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
    body: VersionBody | None = None,
) -> TemplateSummary:
    template = await checklists.templates.retire(
        principal=principal,
        ctx=ctx,
        template_id=template_id,
        expected_version=expected_version(request, body.version if body else None),
    )
    set_etag(response, template.version)
    return TemplateSummary.of(template)


@router.get("/{template_id}/versions/{number}", summary="One published version (everyone)")
async def get_template_version(
    template_id: PathId,
    number: VersionNumber,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
) -> TemplateVersionRead:
    version = await checklists.templates.get_version(
        principal=principal, ctx=ctx, template_id=template_id, number=_number(number)
    )
    return TemplateVersionRead.of(version)


@router.get(
    "/{template_id}/export",
    summary="The export document of the draft, or of ?version=n (owner/admin/auditor)",
    response_model_exclude_none=True,
)
async def export_template(
    template_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    version: Annotated[int | None, Query(ge=1, le=999_999)] = None,
) -> TemplateExport:
    document = await checklists.templates.export(
        principal=principal, ctx=ctx, template_id=template_id, number=version
    )
    return TemplateExport.model_validate(document)
