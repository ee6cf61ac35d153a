"""Where templates live: every key shape and item shape of the ``templates`` table.

Three kinds of items, all in the organization's partition ``ORG#<org>``:

* the head ``TPL#<id>``: name, status, latest version number, the optimistic
  lock ``version``; small, so listings read only heads;
* the draft ``TPLDRAFT#<id>``: the editable definition, rewritten with the head
  in one transaction on every edit;
* a version ``TPLVER#<id>#<n, 6 digits>``: a published definition, written once
  (``ItemNotExists``) and never changed.

``docs/data-model.md`` describes the same shapes; change both together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prework.checklists.models import Template, TemplateStatus, TemplateVersion
from prework.store.base import (
    All,
    AttrEquals,
    AttrNotEquals,
    Item,
    ItemExists,
    ItemNotExists,
    Key,
    Put,
    Update,
    UpdateSpec,
    version_equals,
)

__all__ = [
    "MAX_VERSION",
    "TEMPLATES",
    "create_ops",
    "draft_item",
    "draft_key",
    "edit_ops",
    "head_item",
    "head_key",
    "heads_prefix",
    "is_head",
    "publish_ops",
    "retire_op",
    "template_of",
    "version_item",
    "version_key",
    "version_of",
]

TEMPLATES = "templates"
MAX_VERSION = 999_999


def _pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def head_key(org_id: str, template_id: str) -> Key:
    return {"pk": _pk(org_id), "sk": f"TPL#{template_id}"}


def draft_key(org_id: str, template_id: str) -> Key:
    return {"pk": _pk(org_id), "sk": f"TPLDRAFT#{template_id}"}


def version_key(org_id: str, template_id: str, number: int) -> Key:
    return {"pk": _pk(org_id), "sk": f"TPLVER#{template_id}#{number:06d}"}


def heads_prefix(org_id: str) -> tuple[str, str]:
    """(pk, sk prefix) of the heads of an organization's templates, by id."""
    return _pk(org_id), "TPL#"


def head_item(
    *,
    org_id: str,
    template_id: str,
    name: str,
    description: str | None,
    created_by: str,
    now: str,
) -> Item:
    return {
        **head_key(org_id, template_id),
        "type": "template",
        "id": template_id,
        "org_id": org_id,
        "name": name,
        "description": description,
        "status": TemplateStatus.DRAFT.value,
        "latest_version": 0,
        "dirty": True,
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def draft_item(*, org_id: str, template_id: str, definition: Mapping[str, Any]) -> Item:
    return {
        **draft_key(org_id, template_id),
        "type": "template_draft",
        "template_id": template_id,
        "definition": dict(definition),
    }


def create_ops(head: Item, draft: Item) -> list[Put]:
    return [
        Put(TEMPLATES, head, condition=ItemNotExists()),
        Put(TEMPLATES, draft, condition=ItemNotExists()),
    ]


def edit_ops(
    head: Mapping[str, Any],
    *,
    head_changes: Mapping[str, Any],
    definition: Mapping[str, Any] | None,
    now: str,
) -> list[Update | Put]:
    """A draft edit: the head's new values (and the new definition), under the
    head's version and only while it is not retired."""
    org_id, template_id = head["org_id"], head["id"]
    version = int(head["version"])
    ops: list[Update | Put] = [
        Update(
            TEMPLATES,
            head_key(org_id, template_id),
            UpdateSpec(
                set={**head_changes, "dirty": True, "updated_at": now, "version": version + 1}
            ),
            condition=All(
                ItemExists(),
                version_equals(version),
                AttrNotEquals("status", TemplateStatus.RETIRED.value),
            ),
        )
    ]
    if definition is not None:
        ops.append(
            Put(
                TEMPLATES, draft_item(org_id=org_id, template_id=template_id, definition=definition)
            )
        )
    return ops


def version_item(
    head: Mapping[str, Any],
    *,
    number: int,
    definition: Mapping[str, Any],
    published_by: str,
    now: str,
) -> Item:
    return {
        **version_key(head["org_id"], head["id"], number),
        "type": "template_version",
        "template_id": head["id"],
        "org_id": head["org_id"],
        "number": number,
        "name": head["name"],
        "description": head.get("description"),
        "definition": dict(definition),
        "published_by": published_by,
        "published_at": now,
    }


def publish_ops(head: Mapping[str, Any], version: Item, *, now: str) -> list[Update | Put]:
    """Freeze ``version``: the version item (new) and the head moved to it, under
    the head's version (so two publishes of one draft: one wins, one fails)."""
    current = int(head["version"])
    number = int(version["number"])
    return [
        Put(TEMPLATES, version, condition=ItemNotExists()),
        Update(
            TEMPLATES,
            head_key(head["org_id"], head["id"]),
            UpdateSpec(
                set={
                    "status": TemplateStatus.PUBLISHED.value,
                    "latest_version": number,
                    "dirty": False,
                    "updated_at": now,
                    "version": current + 1,
                }
            ),
            condition=All(
                ItemExists(),
                version_equals(current),
                AttrEquals("latest_version", number - 1),
                AttrNotEquals("status", TemplateStatus.RETIRED.value),
            ),
        ),
    ]


def retire_op(head: Mapping[str, Any], *, now: str) -> Update:
    current = int(head["version"])
    return Update(
        TEMPLATES,
        head_key(head["org_id"], head["id"]),
        UpdateSpec(
            set={"status": TemplateStatus.RETIRED.value, "updated_at": now, "version": current + 1}
        ),
        condition=All(ItemExists(), version_equals(current)),
    )


def template_of(head: Mapping[str, Any], draft: Mapping[str, Any] | None) -> Template:
    return Template(
        id=head["id"],
        org_id=head["org_id"],
        name=head["name"],
        description=head.get("description"),
        status=TemplateStatus(head["status"]),
        latest_version=int(head["latest_version"]),
        has_unpublished_changes=bool(head.get("dirty")),
        definition=(draft or {}).get("definition") or {},
        created_by=head["created_by"],
        created_at=head["created_at"],
        updated_at=head["updated_at"],
        version=int(head["version"]),
    )


def is_head(item: Mapping[str, Any] | None, org_id: str) -> bool:
    return item is not None and item.get("type") == "template" and item.get("org_id") == org_id


def version_of(item: Mapping[str, Any]) -> TemplateVersion:
    return TemplateVersion(
        template_id=item["template_id"],
        org_id=item["org_id"],
        number=int(item["number"]),
        name=item["name"],
        description=item.get("description"),
        definition=item["definition"],
        published_by=item["published_by"],
        published_at=item["published_at"],
    )
