"""The OpenAPI document is part of the contract: clients generate code and docs from it.

So it must describe every route of the scope with its method, its credentials, its
bodies and its problem responses, exactly as the service behaves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.helpers import Client

Document = dict[str, Any]

PROBLEM = "application/problem+json"

#: The contract's routes of this scope, as ``METHOD path`` with its parameter names.
PUBLIC = [
    ("POST", "/api/v1/auth/sign-up"),
    ("POST", "/api/v1/auth/tokens"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/tokens/refresh"),
]
PROTECTED = [
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/sessions"),
    ("DELETE", "/api/v1/auth/sessions/{id}"),
    ("GET", "/api/v1/users/me"),
    ("PATCH", "/api/v1/users/me"),
    ("DELETE", "/api/v1/users/me"),
    ("POST", "/api/v1/users/me/password"),
]
WITH_BODY = [*PUBLIC, ("PATCH", "/api/v1/users/me"), ("POST", "/api/v1/users/me/password")]
ROUTES = PUBLIC + PROTECTED

USER_FIELDS = {
    "id", "email", "email_verified", "first_name", "last_name", "phone", "birthday", "photo_url", "address", "meta",
    "role", "is_active", "created_at", "updated_at",
}  # fmt: skip
TOKEN_PAIR_FIELDS = {"access_token", "refresh_token", "token_type", "expires_in", "refresh_expires_in", "session_id"}
SESSION_FIELDS = {"id", "created_at", "last_used_at", "expires_at", "user_agent", "ip", "current"}
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "code", "error_id", "errors"}


def route_id(route: tuple[str, str]) -> str:
    return " ".join(route)


@pytest.fixture
async def document(client: Client) -> Document:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    body: Document = response.json()
    return body


def _template(path: str) -> str:
    """Parameter names are the document's business: ``/sessions/{id}`` == ``/sessions/{session_id}``."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def operation(document: Document, method: str, path: str) -> dict[str, Any]:
    matches = [item for template, item in document["paths"].items() if _template(template) == _template(path)]
    assert matches, f"{path} is not in the document"
    op: dict[str, Any] | None = matches[0].get(method.lower())
    assert op is not None, f"{method} {path} is not in the document"
    return op


def resolve(document: Document, schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (local references only) until a schema with content."""
    while "$ref" in schema:
        ref: str = schema["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part]
        schema = target
    return schema


def response_schema(document: Document, method: str, path: str, status: str) -> dict[str, Any]:
    content = operation(document, method, path)["responses"][status]["content"]
    return resolve(document, next(iter(content.values()))["schema"])


async def test_the_document_is_openapi_3_1(client: Client) -> None:
    response = await client.get("/schema/openapi.json")

    assert response.status_code == 200
    assert "json" in response.headers["content-type"]
    document = response.json()
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert document["info"]["title"]
    assert document["info"]["version"]


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_every_route_is_documented_with_its_method(document: Document, route: tuple[str, str]) -> None:
    op = operation(document, *route)

    assert op["responses"], "an operation documents at least its success response"


def test_security_schemes_offer_bearer_and_the_oauth2_password_flow(document: Document) -> None:
    schemes = document["components"]["securitySchemes"].values()

    assert any(s["type"] == "http" and s["scheme"].lower() == "bearer" for s in schemes)
    password_flows = [s["flows"]["password"] for s in schemes if s["type"] == "oauth2" and "password" in s["flows"]]
    assert [flow["tokenUrl"] for flow in password_flows] == ["/api/v1/auth/token"]


@pytest.mark.parametrize("route", PROTECTED, ids=route_id)
def test_protected_operations_declare_security_and_401(document: Document, route: tuple[str, str]) -> None:
    op = operation(document, *route)
    defined = set(document["components"]["securitySchemes"])

    assert op.get("security"), "a protected operation must say which credentials it takes"
    assert {} not in op["security"], "an empty requirement would make credentials optional"
    assert all(set(requirement) <= defined for requirement in op["security"])
    assert PROBLEM in op["responses"]["401"]["content"]


@pytest.mark.parametrize("route", PUBLIC, ids=route_id)
def test_public_operations_need_no_credentials(document: Document, route: tuple[str, str]) -> None:
    security = operation(document, *route).get("security")

    assert not security or {} in security


@pytest.mark.parametrize("status", ["400", "413", "422"])
@pytest.mark.parametrize("route", WITH_BODY, ids=route_id)
def test_operations_with_a_body_document_its_problems(document: Document, route: tuple[str, str], status: str) -> None:
    """422 above all (invalid input), and also 400 (not JSON) and 413 (over the limit)."""
    op = operation(document, *route)

    assert op["requestBody"]["content"]
    assert status in op["responses"], f"{route_id(route)} does not document {status}"
    assert set(op["responses"][status]["content"]) == {PROBLEM}


@pytest.mark.parametrize(
    "route",
    [pytest.param(route, id=route_id(route)) for route in ROUTES],
)
def test_every_documented_error_is_a_problem(document: Document, route: tuple[str, str]) -> None:
    responses = operation(document, *route)["responses"]
    errors = {status: response for status, response in responses.items() if status[0] in "45"}

    assert errors
    for status, response in errors.items():
        assert set(response.get("content", {})) == {PROBLEM}, f"{status}: {list(response.get('content', {}))}"
        schema = resolve(document, response["content"][PROBLEM]["schema"])
        assert set(schema["properties"]) >= PROBLEM_FIELDS


def test_the_token_form_is_documented_as_a_form(document: Document) -> None:
    """The UI's "Authorize" posts ``username`` and ``password`` URL-encoded."""
    content = operation(document, "POST", "/api/v1/auth/token")["requestBody"]["content"]

    assert set(content) == {"application/x-www-form-urlencoded"}
    schema = resolve(document, content["application/x-www-form-urlencoded"]["schema"])
    assert {"username", "password"} <= set(schema["required"])


_REQUIRED_BODY_FIELDS = {
    ("POST", "/api/v1/auth/sign-up"): {"email", "password"},
    ("POST", "/api/v1/auth/tokens"): {"email", "password"},
    ("POST", "/api/v1/auth/tokens/refresh"): {"refresh_token"},
    ("POST", "/api/v1/users/me/password"): {"current_password", "new_password"},
    ("PATCH", "/api/v1/users/me"): set(),
}


@pytest.mark.parametrize(
    ("route", "required"), list(_REQUIRED_BODY_FIELDS.items()), ids=[route_id(r) for r in _REQUIRED_BODY_FIELDS]
)
def test_json_bodies_are_documented_with_their_required_fields(
    document: Document, route: tuple[str, str], required: set[str]
) -> None:
    content = operation(document, *route)["requestBody"]["content"]
    schema = resolve(document, content["application/json"]["schema"])

    assert set(schema.get("required", [])) == required


def test_the_profile_patch_documents_only_self_service_fields(document: Document) -> None:
    content = operation(document, "PATCH", "/api/v1/users/me")["requestBody"]["content"]
    schema = resolve(document, content["application/json"]["schema"])

    assert set(schema["properties"]) == {"first_name", "last_name", "phone", "birthday", "photo_url", "address", "meta"}


@pytest.mark.parametrize(
    ("route", "status", "fields"),
    [
        (("GET", "/api/v1/users/me"), "200", USER_FIELDS),
        (("PATCH", "/api/v1/users/me"), "200", USER_FIELDS),
        (("POST", "/api/v1/auth/sign-up"), "201", USER_FIELDS),
        (("POST", "/api/v1/auth/tokens"), "200", TOKEN_PAIR_FIELDS),
        (("POST", "/api/v1/auth/token"), "200", TOKEN_PAIR_FIELDS),
        (("POST", "/api/v1/auth/tokens/refresh"), "200", TOKEN_PAIR_FIELDS),
    ],
    ids=[
        "User from GET me",
        "User from PATCH me",
        "User from sign-up",
        "TokenPair",
        "TokenPair (form)",
        "TokenPair (refresh)",
    ],
)
def test_response_schemas_have_the_contract_fields(
    document: Document, route: tuple[str, str], status: str, fields: set[str]
) -> None:
    schema = response_schema(document, *route, status)

    assert set(schema["properties"]) == fields
    assert set(schema["required"]) == fields


def test_the_session_list_has_the_contract_fields(document: Document) -> None:
    schema = response_schema(document, "GET", "/api/v1/auth/sessions", "200")

    assert schema["type"] == "array"
    assert set(resolve(document, schema["items"])["properties"]) == SESSION_FIELDS


def test_the_user_schema_describes_role_and_address(document: Document) -> None:
    user = response_schema(document, "GET", "/api/v1/users/me", "200")

    role = resolve(document, user["properties"]["role"])
    assert set(role["enum"]) == {"user", "admin"}
    address = user["properties"]["address"]
    options = [resolve(document, option) for option in address.get("oneOf", address.get("anyOf", [address]))]
    objects = [option for option in options if option.get("type") == "object"]
    assert [set(option["properties"]) for option in objects] == [{"street", "city", "state", "zip_code", "country"}]
    assert {"type": "null"} in options


def _object_schemas(document: Document, schema: Any, seen: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema with declared properties reachable from ``schema``, named by its path."""
    if isinstance(schema, list):
        for item in schema:
            yield from _object_schemas(document, item, seen)
        return
    if not isinstance(schema, dict):
        return
    if (ref := schema.get("$ref")) is not None:
        if ref not in seen:
            seen.add(ref)
            yield from (
                (f"{ref}{name}", found) for name, found in _object_schemas(document, resolve(document, schema), seen)
            )
        return
    if "properties" in schema:
        yield "", schema
    for key in ("properties", "items", "oneOf", "anyOf", "allOf"):
        children = schema.get(key)
        named = children.items() if isinstance(children, dict) and key == "properties" else [("", children)]
        for name, child in named:
            yield from ((f".{name}{path}", found) for path, found in _object_schemas(document, child, seen))


def test_request_bodies_are_documented_closed(document: Document) -> None:
    """Bodies refuse unknown fields (422), so every object in them is ``additionalProperties: false``.

    Without it JSON Schema allows any other field, and a client validating against the
    document would send bodies the service refuses.
    """
    bodies = {
        f"{method.upper()} {path}": op["requestBody"]
        for path, item in document["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "requestBody" in op
    }
    assert len(bodies) >= 10

    for route, body in bodies.items():
        for media_type in body["content"].values():
            objects = list(_object_schemas(document, media_type["schema"], set()))
            assert objects, route
            for where, schema in objects:
                assert schema.get("additionalProperties") is False, f"{route}: {where or 'body'} is open"


def _shorthand_classes(pattern: str) -> list[str]:
    """The escapes in ``pattern`` whose meaning differs between ECMAScript and Python regexes."""
    found, escaped = [], False
    for char in pattern:
        if escaped and char in "sSdDwWbB":
            found.append(f"\\{char}")
        escaped = not escaped and char == "\\"
    return found


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for child in node.values():
            yield from _patterns(child)
    elif isinstance(node, list):
        for child in node:
            yield from _patterns(child)


def test_patterns_mean_the_same_to_clients_and_to_the_service(document: Document) -> None:
    """JSON Schema reads ``pattern`` as an ECMAScript regex; the service checks it with Python's.

    ``\\s``, ``\\d``, ``\\w`` and ``\\b`` match different characters in the two (Python's ``\\s``
    takes ``\\x1c``-``\\x1f`` and ``\\x85``, ECMAScript's takes ``\\ufeff``), so a published
    pattern spells its classes out.
    """
    patterns = list(_patterns(document))
    assert patterns

    assert {pattern: _shorthand_classes(pattern) for pattern in patterns if _shorthand_classes(pattern)} == {}


def test_logout_documents_its_refusal_of_an_api_key(document: Document) -> None:
    """An API key has no session to end: 403, which the document must list."""
    responses = operation(document, "POST", "/api/v1/auth/logout")["responses"]

    assert set(responses["403"]["content"]) == {PROBLEM}


def test_no_password_hash_anywhere_in_the_document(document: Document) -> None:
    assert "password_hash" not in json.dumps(document)


@pytest.mark.parametrize("path", ["/schema", "/schema/"])
async def test_the_schema_ui_is_html(client: Client, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
