"""The OpenAPI 3.1 document, generated from the marshmallow schemas in ``schemas.py``.

Bodies and query parameters come from the very schemas that validate requests, so
the document cannot drift from what the gateway enforces. Each path, its access and
its operations' summaries, statuses and schemas come from ``routes.ROUTES``, the
table the app registers its routes from.
"""

from __future__ import annotations

import inspect

from marshmallow import RAISE, Schema, fields, validate

from services.gateway import schemas
from services.gateway.body import MAX_BODY_BYTES
from services.gateway.errors import CODE_BY_STATUS
from services.gateway.middleware import (
    CORS_EXPOSED_HEADERS,
    CORS_MAX_AGE,
    CORS_METHODS,
    CORS_REQUEST_HEADERS,
    MAX_REQUEST_ID_LENGTH,
    REQUEST_ID_CHARACTERS,
    REQUEST_ID_HEADER,
)
from services.gateway.routes import ADMIN, PUBLIC, ROUTES
from shared import idempotency
from shared.catalog import KEY_PATTERN
from shared.commands import Distinct
from shared.fields import Trimmed
from shared.ids import MAX_ROW_ID, MAX_ROW_ID_DIGITS

# The app drops blank query values (``keep_blank_qs_values = False``) before validation.
BLANK_QUERY_VALUE = "An empty value is treated as absent."

ERROR_TEXT = {
    400: (
        "Malformed request: the body is not JSON (not UTF-8, nested too deeply, or a key "
        "named twice in one object), or a query parameter has the wrong type."
    ),
    401: "No token, or a bad, expired or wrongly signed one.",
    403: "A user called an admin endpoint.",
    404: "Not found, or not the caller's.",
    405: "This path does not offer the method (the Allow header lists those it does).",
    408: "The body was not received within HELPDESK_REQUEST_READ_TIMEOUT seconds "
    "(the connection is closed).",
    409: "The ticket's state forbids this.",
    413: f"The body is larger than {MAX_BODY_BYTES} bytes.",
    415: "The body is not application/json (UTF-8: no other charset).",
    422: "Validation failed; details map each field to its messages.",
    429: (
        "A limit is reached: the daily ticket allowance, or the owner's messages per "
        "ticket per rolling hour (Retry-After; details.reset_at)."
    ),
    500: "Unexpected fault (logged with the request id).",
    503: "A backend service did not answer in time (Retry-After).",
}
# Every path answers a method it does not offer with 405, so every operation lists it.
ALWAYS = (401, 405, 500, 503)
PUBLIC_ALWAYS = (405, 500)
# Any other id (more digits, a sign, a non-ASCII digit) is a 404.
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}
ID_RULE = f"1 to {MAX_ROW_ID_DIGITS} digits; anything else is a 404."
# A route template's field -> its path parameter (each is documented as ``{id}``).
PATH_PARAMETERS = {
    "ticket_id": {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": ID_SCHEMA,
        "description": f"The ticket id (shown as #id): {ID_RULE}",
    },
    "notice_id": {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": ID_SCHEMA,
        "description": f"The notice id: {ID_RULE}",
    },
    "team_key": {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": KEY_PATTERN},
        "description": "The team's key; a key no team has is a 404.",
    },
    "macro_id": {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": ID_SCHEMA,
        "description": f"The canned reply's id: {ID_RULE}",
    },
}


def _validators(field) -> dict:
    out = {}
    for v in field.validators:
        if isinstance(v, validate.Length):
            if v.equal is not None:
                out["minLength"] = out["maxLength"] = v.equal
            if v.min is not None:
                out["minLength"] = v.min
            if v.max is not None:
                out["maxLength"] = v.max
        elif isinstance(v, validate.OneOf):
            out["enum"] = list(v.choices)
        elif isinstance(v, validate.NoneOf):
            out["not"] = {"enum": list(v.iterable)}
        elif isinstance(v, validate.Regexp):
            out["pattern"] = v.regex.pattern
        elif isinstance(v, Distinct):
            out["uniqueItems"] = True
        elif isinstance(v, validate.Range):
            if v.min is not None:
                out["minimum" if v.min_inclusive else "exclusiveMinimum"] = v.min
            if v.max is not None:
                out["maximum" if v.max_inclusive else "exclusiveMaximum"] = v.max
    return out


def _after_trimming(out: dict) -> str:
    """Move the rules a trimmed field checks on its trimmed text into words.

    Trimming only shortens, so ``minLength`` holds for the text as sent, while a
    ``maxLength`` or ``enum`` would refuse text the server accepts (``"x" * max + " "``).
    """
    low, high = out.get("minLength") or 0, out.pop("maxLength", None)
    if not low:
        out.pop("minLength", None)
    choices = out.pop("enum", None)
    rule = []
    if choices is not None:
        rule.append("one of " + ", ".join(str(c) for c in choices))
    if high is not None:
        rule.append(f"{low}-{high} characters" if low else f"at most {high} characters")
    elif low:
        rule.append(f"at least {low} characters")
    text = "Surrounding whitespace is trimmed first"
    return text + (": the trimmed text must be " + " and ".join(rule) if rule else "") + "."


def field_schema(field, components, request=False) -> dict:
    """JSON Schema of one marshmallow field (``request``: as a request validates it)."""
    meta = dict(field.metadata)
    if isinstance(field, fields.Nested):
        ref = {"$ref": f"#/components/schemas/{schema_ref(field.nested, components, request)}"}
        out = {"oneOf": [ref, {"type": "null"}]} if field.allow_none else ref
        return out
    if isinstance(field, fields.List):
        out = {"type": "array", "items": field_schema(field.inner, components, request)}
        # A list's length is how many items it has.
        counts = _validators(field)
        for length, items in (("minLength", "minItems"), ("maxLength", "maxItems")):
            if length in counts:
                out[items] = counts.pop(length)
        out.update(counts)
        meta.pop("type", None)
    elif isinstance(field, fields.Boolean):
        out = {"type": "boolean"}
    elif isinstance(field, fields.Integer):
        out = {"type": "integer"}
    elif isinstance(field, fields.String):
        out = {"type": "string"}
    elif isinstance(field, fields.Dict):
        out = {"type": "object"}
    else:
        out = {}
    if "type" in meta:
        out["type"] = meta.pop("type")
    if not isinstance(field, fields.List):
        out.update(_validators(field))
    for key in ("format", "description", "default", "minimum"):
        if key in meta:
            out[key] = meta[key]
    if request and isinstance(field, Trimmed):
        out["description"] = " ".join(filter(None, (out.get("description"), _after_trimming(out))))
    if field.allow_none and "type" in out:
        out["type"] = [*([out["type"]] if isinstance(out["type"], str) else out["type"]), "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def schema_ref(schema, components, request=False) -> str:
    """Register ``schema`` (class or instance) under components; return its name."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    if name not in components:
        components[name] = {}  # placeholder against recursion
        instance = schema() if isinstance(schema, type) else schema
        components[name] = described_schema(instance, components, request)
    return name


def described_schema(instance: Schema, components, request=False) -> dict:
    """``object_schema`` with the first paragraph of the class docstring as its description."""
    out = object_schema(instance, components, request)
    doc = type(instance).__doc__
    if doc:
        out["description"] = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())
    return out


def object_schema(instance: Schema, components, request=False) -> dict:
    """JSON Schema of a schema instance's fields.

    A request schema that refuses unknown fields (marshmallow's ``unknown = RAISE``,
    however it is set) says ``additionalProperties: false``; a response schema is
    never loaded, so its ``unknown`` describes nothing and it stays open.
    """
    props, required = {}, []
    for name, field in instance.fields.items():
        props[name] = field_schema(field, components, request)
        if field.required:
            required.append(name)
    out = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if request and instance.unknown == RAISE:
        out["additionalProperties"] = False
    return out


def _query_parameters(query_cls, components) -> list:
    """Query parameters as the app reads them: a blank value never reaches validation,
    so the schema describes non-empty values and a ``minLength`` of 1 (which says
    only "not empty") is left out."""
    params = []
    for name, field in query_cls().fields.items():
        schema = field_schema(field, components, request=True)
        if schema.get("minLength", 0) <= 1:
            schema.pop("minLength", None)
        description = " ".join(filter(None, (schema.pop("description", None), BLANK_QUERY_VALUE)))
        params.append(
            {
                "name": name,
                "in": "query",
                "required": field.required,
                "allowEmptyValue": True,
                "schema": schema,
                "description": description,
            }
        )
    return params


def request_body_schema(body, settings):
    """The schema instance that validates ``body`` (a route's body class) for ``settings``."""
    if body in FEATURE_BODIES:
        return body([k for k, _ in settings.features])
    return body()


# Bodies naming features: their keys are configuration, so described inline, per document.
FEATURE_BODIES = (schemas.CreateTicketBody, schemas.TeamBody, schemas.TeamChangeBody)


# The request id: an optional request header, and a header of every response.
REQUEST_ID_REF = {"$ref": f"#/components/parameters/{REQUEST_ID_HEADER}"}
REQUEST_ID_PARAMETER = {
    "name": REQUEST_ID_HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": (
        "Your id for this request, echoed in the response and written in every log line "
        f"about it. Only the characters {REQUEST_ID_CHARACTERS} are kept, and the first "
        f"{MAX_REQUEST_ID_LENGTH} of them; when none is left, or none is sent, the gateway "
        "makes one."
    ),
}
REQUEST_ID_RESPONSE_HEADER = {
    "description": f"The request's id (the {REQUEST_ID_HEADER} sent, as kept, or a new one).",
    "schema": {
        "type": "string",
        "pattern": f"^[{REQUEST_ID_CHARACTERS}]{{1,{MAX_REQUEST_ID_LENGTH}}}$",
    },
}


# Headers on every response of the API, errors included (middleware.NoStoreNoSniff).
EVERY_RESPONSE_HEADERS = {
    REQUEST_ID_HEADER: REQUEST_ID_RESPONSE_HEADER,
    "Cache-Control": {
        "description": "Never stored by a cache: an answer carries one caller's data.",
        "schema": {"type": "string", "const": "no-store"},
    },
    "X-Content-Type-Options": {"schema": {"type": "string", "const": "nosniff"}},
}

# Every POST takes an Idempotency-Key (shared/idempotency.py).
IDEMPOTENCY_REF = {"$ref": f"#/components/parameters/{idempotency.HEADER}"}
IDEMPOTENCY_PARAMETER = {
    "name": idempotency.HEADER,
    "in": "header",
    "required": False,
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": idempotency.MAX_KEY_LENGTH,
        "pattern": "^[\\x20-\\x7E]+$",
    },
    "description": (
        "Your key for this request (1-255 printable ASCII characters), to retry it safely. "
        "The same caller sending the same key with the same request (method, path and body) "
        "within 24 hours gets the first successful answer again (status, body and Location) "
        "and nothing happens a second time: no second ticket, message or notice, no second "
        "use of the daily allowance. Only successes are kept: a request that failed runs "
        "again. The same key with a different request is a 422 naming Idempotency-Key; a "
        "repeat while the first is still in progress is a 409. Keys are per caller. Where "
        "nothing is changed (preview) the key is checked and nothing is kept."
    ),
}
IDEMPOTENCY_422 = " A malformed Idempotency-Key, or one already used for a different request, is named in details."
IDEMPOTENCY_409 = (
    "A request with the same Idempotency-Key is still in progress; retry it to get its answer."
)


def _with_request_id(headers: dict) -> dict:
    """``headers`` and the ones every response carries (by reference)."""
    common = {name: {"$ref": f"#/components/headers/{name}"} for name in EVERY_RESPONSE_HEADERS}
    return {**common, **headers}


def _error_response(status, description=None):
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = {"schema": {"type": "string", "const": "Bearer"}}
    if status in (429, 503):
        headers["Retry-After"] = {"description": "Seconds to wait", "schema": {"type": "integer"}}
    if status == 405:
        headers["Allow"] = {"schema": {"type": "string"}}
    return {
        "description": f"{description or ERROR_TEXT[status]} (code {CODE_BY_STATUS[status]})",
        "headers": _with_request_id(headers),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def build_openapi(settings) -> dict:
    """The whole OpenAPI 3.1 document for this configuration (feature keys included)."""
    components: dict = {}
    schema_ref(schemas.Error, components)
    paths = {}
    for route in ROUTES:
        path, public = route.path, route.auth == PUBLIC
        paths[path] = {}
        for method, op in route.operations.items():
            operation = {
                "summary": op["summary"],
                "tags": [route.tag],
                "operationId": _operation_id(method, path),
            }
            if op["description"]:
                operation["description"] = op["description"]
            if public:
                operation["security"] = []
            parameters = [
                *(PATH_PARAMETERS[name] for name in route.fields),
                REQUEST_ID_REF,
                *op["parameters"],
            ]
            if method == "post":
                parameters.append(IDEMPOTENCY_REF)
            if op["query"] is not None:
                parameters += _query_parameters(op["query"], components)
            operation["parameters"] = parameters
            if op["body"] is not None:
                instance = request_body_schema(op["body"], settings)
                if op["body"] in FEATURE_BODIES:
                    # The feature keys are configuration: described inline, per document.
                    body_schema = described_schema(instance, components, request=True)
                else:
                    name = schema_ref(instance, components, request=True)
                    body_schema = {"$ref": f"#/components/schemas/{name}"}
                operation["requestBody"] = {
                    "required": not op["body_optional"],
                    "content": {"application/json": {"schema": body_schema}},
                }
            ok = {"description": {200: "OK", 201: "Created", 204: "No Content"}[op["ok"]]}
            if op["response"] is not None:
                ok["content"] = {
                    op["content_type"]: {
                        "schema": {
                            "$ref": f"#/components/schemas/{schema_ref(op['response'], components)}"
                        }
                    }
                }
            elif op["content_type"] != "application/json" or path == "/openapi.json":
                ok["content"] = {
                    op["content_type"]: {
                        "schema": {"type": "object"}
                        if path == "/openapi.json"
                        else {"type": "string"}
                    }
                }
            ok["headers"] = _with_request_id(op["headers"])
            responses = {str(op["ok"]): ok}
            for status, text in op["also"].items():
                responses[str(status)] = {
                    "description": text,
                    "headers": _with_request_id({}),
                }
            statuses = set(op["errors"]) | set(PUBLIC_ALWAYS if public else ALWAYS)
            if route.auth == ADMIN:
                statuses.add(403)
            if route.fields:
                # A path naming one ticket, notice, team or macro: there may be none such.
                statuses.add(404)
            described = {}
            if method == "post":
                statuses.add(422)
                described[422] = ERROR_TEXT[422] + IDEMPOTENCY_422
                if op["replays"]:
                    described[409] = (
                        f"{ERROR_TEXT[409]} Or: {IDEMPOTENCY_409}"
                        if 409 in statuses
                        else IDEMPOTENCY_409
                    )
                    statuses.add(409)
            for status in sorted(statuses):
                responses[str(status)] = _error_response(status, described.get(status))
            operation["responses"] = responses
            paths[path][method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Help Center API",
            "version": "1.0.0",
            "description": (
                "Support tickets, notices and the support queue. Every error has the body "
                "{error: {code, message, details}}; when several apply the first of 401, 403, "
                "404, 405, 413, 415, 400, 422, 409, 429 wins. Every response carries X-Request-Id, "
                "Cache-Control: no-store and X-Content-Type-Options: nosniff. "
                "A path is answered only as routed: another spelling (//api/v1/tickets, "
                "/api//v1/...) is a 404 or needs the same token as the canonical path. "
                f"An id in a path that is not 1 to {MAX_ROW_ID_DIGITS} ASCII digits is a 404. "
                "Unknown query parameters are ignored, and one sent with an empty value "
                "(cursor=) is treated as absent; unknown body fields are a 422. "
                "HEAD is answered wherever GET is: the same status and headers, no body. "
                "Every POST takes an Idempotency-Key header, so a retry is answered as the "
                "first request was and changes nothing again. "
                "A request that cannot be parsed as HTTP gets the same error body: "
                "400 malformed_request, or 414 uri_too_long for a request line over 8190 "
                "bytes, or 431 header_fields_too_large for more than 100 header fields; "
                "a request whose head and body do not arrive within "
                "HELPDESK_REQUEST_READ_TIMEOUT seconds (10) of its first byte is answered "
                "408 request_timeout and the connection closed. "
                "Cross-origin callers (CORS, see x-cors): only the origins an operator lists "
                "in HELPDESK_CORS_ORIGINS, never *, no credentials (bearer tokens, not "
                "cookies). A preflight (OPTIONS with Origin and Access-Control-Request-Method, "
                "on any path) is answered 204 without a token: with the allowed methods, "
                "headers and max age for a listed origin, with no CORS header for any other. "
                "Every other answer to a listed origin, errors included, carries "
                "Access-Control-Allow-Origin (that origin) and Access-Control-Expose-Headers; "
                "Vary: Origin is on every answer while any origin is listed."
            ),
        },
        "x-cors": {
            "allowOrigins": "HELPDESK_CORS_ORIGINS (none by default)",
            "allowMethods": list(CORS_METHODS),
            "allowHeaders": list(CORS_REQUEST_HEADERS),
            "exposeHeaders": list(CORS_EXPOSED_HEADERS),
            "maxAge": CORS_MAX_AGE,
            "allowCredentials": False,
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": t} for t in ("catalog", "tickets", "notifications", "support", "operations")
        ],
        "paths": paths,
        "components": {
            "schemas": components,
            "parameters": {
                REQUEST_ID_HEADER: REQUEST_ID_PARAMETER,
                idempotency.HEADER: IDEMPOTENCY_PARAMETER,
            },
            "headers": EVERY_RESPONSE_HEADERS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": f"Signed {settings.jwt_algorithm}; claims sub, role (user|admin), exp required; name optional.",
                }
            },
        },
    }


def _operation_id(method: str, path: str) -> str:
    words = [
        p.strip("{}").replace("-", "_") for p in path.split("/") if p and p not in ("api", "v1")
    ]
    return method + "_" + "_".join(words).replace(".", "_")
