"""The OpenAPI document declares the bearer scheme (so /docs offers "Authorize")
without changing how missing or bad tokens are answered."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from .helpers import error_code, route_table

PUBLIC = {
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/accept-invitation"),
}


async def test_protected_routes_declare_the_bearer_scheme(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200, r.text
    doc = r.json()
    schemes = doc["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert scheme["type"] == "http"
    assert scheme["scheme"].lower() == "bearer"
    identity = [
        (m, p)
        for m, p in route_table(app)
        if p.startswith(("/api/auth", "/api/users", "/api/profiles", "/api/orgs", "/api/audit"))
    ]
    assert identity
    for method, path in identity:
        operation = doc["paths"][path][method.lower()]
        declared = operation.get("security", [])
        if (method, path) in PUBLIC:
            assert declared == [], (method, path)
        else:
            assert declared == [{name: []}], (method, path)


async def test_missing_and_malformed_tokens_keep_their_codes(client: httpx.AsyncClient) -> None:
    cases = {
        None: "unauthenticated",
        "": "unauthenticated",
        "Basic dXNlcjpwYXNz": "invalid_token",
        "Bearer": "invalid_token",
        "Bearer ": "invalid_token",
        "bearer not-a-jwt": "invalid_token",
    }
    for header, code in cases.items():
        headers = {} if header is None else {"Authorization": header}
        r = await client.get("/api/orgs/current", headers=headers)
        assert r.status_code == 401, (header, r.text)
        assert error_code(r) == code, header
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert set(r.json()) == {"error"}
