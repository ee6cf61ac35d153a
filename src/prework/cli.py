"""The ``prework`` command: ``serve``, ``init``, ``gc``, ``version``.

Settings come from ``PREWORK_*`` environment variables (and ``.env``), as for
the server; see :mod:`prework.config`.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

import prework
from prework.bootstrap import (
    SECRET_KEY_FILE,
    ConfigError,
    build_services,
    ensure_private_dir,
    ensure_secret_key_file,
    open_blobs,
    open_pubsub,
    open_store,
    parse_blobs_url,
    parse_store_url,
    previous_secret_keys,
    resolve_secret_key,
)
from prework.config import Settings
from prework.errors import PreworkError
from prework.logging import configure_logging

__all__ = ["app"]

app = typer.Typer(
    name="prework",
    help="Prework: pre-work checklist collaboration backend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _settings() -> Settings:
    """The settings, or exit 2 naming what is wrong (never the values: they may be secrets)."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"  PREWORK_{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        ]
        typer.echo("error: invalid settings:\n" + "\n".join(problems), err=True)
    except ValueError as exc:  # pydantic-settings' SettingsError: names the field only
        typer.echo(f"error: invalid settings: {exc}", err=True)
    raise typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [PREWORK_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [PREWORK_PORT].")] = None,
    ws_per_message_deflate: Annotated[
        bool | None,
        typer.Option(
            "--ws-per-message-deflate/--no-ws-per-message-deflate",
            help="WebSocket per-message compression when the client offers it "
            "[PREWORK_WS_PER_MESSAGE_DEFLATE].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the HTTP server (uvicorn)."""
    import uvicorn

    from prework.server import READ_SLACK_BYTES, ConnectionLimits, protocol_class

    settings = _settings()
    configure_logging(settings)
    try:
        # fail on configuration errors here, with a one-line message, before uvicorn starts
        parse_store_url(settings.store)
        parse_blobs_url(settings.blobs)
        resolve_secret_key(settings)
        previous_secret_keys(settings)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    limits = ConnectionLimits.from_settings(settings)
    uvicorn.run(
        "prework.app:create_served_app",
        factory=True,
        host=host or settings.host,
        port=port if port is not None else settings.port,
        # uvicorn's HTTP/1.1 protocol on the chosen parser, with our deadlines and
        # connection limit (prework.server); uvicorn's limit_concurrency stays off
        http=protocol_class(settings.http_parser, limits),
        timeout_keep_alive=math.ceil(limits.keep_alive),  # the protocol uses the exact value
        # h11 bounds the head it buffers too; above ours (plus one read), so ours answers
        h11_max_incomplete_event_size=limits.max_header_bytes + READ_SLACK_BYTES,
        log_config=None,  # keep ours (prework.logging)
        access_log=False,  # RequestContextMiddleware logs each request
        server_header=False,
        loop="uvloop",  # explicit: fail at start rather than serve slower (docs/architecture.md)
        reload=False,
        # forwarded headers are believed only from the configured proxies: the
        # client address feeds login throttling and the audit log
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        # explicit, as the loop: uvicorn's sans-I/O protocol on websockets (its "auto"
        # today; the legacy one holds ~7 KiB more an idle socket)
        ws="websockets-sansio",
        ws_per_message_deflate=(
            settings.ws_per_message_deflate
            if ws_per_message_deflate is None
            else ws_per_message_deflate
        ),
    )


async def _init(settings: Settings) -> list[str]:
    done: list[str] = []
    store_spec = parse_store_url(settings.store, default_prefix=settings.table_prefix)
    blobs_spec = parse_blobs_url(settings.blobs)

    if store_spec.embedded or blobs_spec.embedded:
        state = ensure_private_dir(settings.data_dir)  # 0700
        done.append(f"data dir {settings.data_dir}: {state}")
    if store_spec.path is not None:
        store_spec.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    if settings.secret_key is None and settings.is_embedded:
        path = settings.data_dir / SECRET_KEY_FILE
        _, created = ensure_secret_key_file(path)
        done.append(f"secret key {path}: {'generated (mode 0600)' if created else 'exists'}")
    else:
        resolve_secret_key(settings)  # checks PREWORK_SECRET_KEY; required on AWS engines
        done.append("secret key: from PREWORK_SECRET_KEY")

    store = open_store(settings)
    try:
        await store.init()
        where = store_spec.path or store_spec.endpoint or "AWS"
        done.append(f"store {store_spec.kind} ({where}): {len(store.tables)} tables ready")
    finally:
        await store.close()

    blobs = open_blobs(settings)
    try:
        await blobs.init()
        where = blobs_spec.root or blobs_spec.endpoint or "AWS"
        names = ", ".join(settings.bucket_names.values())
        done.append(f"blobs {blobs_spec.kind} ({where}): buckets ready ({names})")
    finally:
        await blobs.close()
    return done


@app.command()
def init() -> None:
    """Create what the configured engines need: data dir, secret key, tables, buckets.

    Idempotent: running it again changes nothing that exists.
    """
    settings = _settings()
    configure_logging(settings)
    try:
        done = asyncio.run(_init(settings))
    except (ConfigError, PreworkError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in done:
        typer.echo(line)


async def _gc(settings: Settings, *, dry_run: bool, show_progress: bool) -> dict[str, Any]:
    store = open_store(settings)
    blobs = open_blobs(settings)
    pubsub = open_pubsub(settings)
    try:
        services = build_services(settings, store, pubsub, blobs)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed} looked at"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not show_progress,
            transient=True,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def tick(phase: str, count: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=None)
                bar.advance(tasks[phase], count)

            report = await services.media_gc.run(dry_run=dry_run, progress=tick)
        services.close()
        return {"dry_run": dry_run, **report.as_dict()}
    finally:
        await pubsub.close()
        await blobs.close()
        await store.close()


@app.command()
def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="A progress bar on stderr.")
    ] = True,
) -> None:
    """Delete uploads never confirmed, rejected files and files nothing uses.

    Prints what it did (or would do, with --dry-run) as one JSON object.
    """
    settings = _settings()
    configure_logging(settings)
    try:
        result = asyncio.run(_gc(settings, dry_run=dry_run, show_progress=progress))
    except (ConfigError, PreworkError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, sort_keys=True))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"prework {prework.__version__}")
