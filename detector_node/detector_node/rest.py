"""The detector's REST API (aiohttp), shaped as the Learning Loop's detector answers
(FastAPI: `{"detail": ...}`, 422 validation lists): each route serves one operation of
`detector_node.operations`; this module only reads requests and writes answers. Also
the guard every request passes (DNS rebinding, API key) and /openapi.json, /docs.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from detector_node import operations as ops
from detector_node.images import ImageError
from detector_node.metadata import ImageMetadata
from detector_node.operations import OPERATIONS, Operation
from detector_node.service import AUTOUPLOAD_MODES, DetectorService, DetectorUnavailable
from node_kit.checks import foreign_host_or_origin, is_loopback_host

log = logging.getLogger("detector_node.service")

def _error(status: int, detail: str) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


def _invalid(loc: list[str], msg: str, kind: str, value: Any = None,
             ctx: dict | None = None) -> web.Response:
    """A request validation error in the shape FastAPI (the Loop's detector) gives: 422 with
    `detail` a list of {type, loc, msg, input[, ctx]}."""
    item: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx is not None:
        item["ctx"] = ctx
    return web.json_response({"detail": [item]}, status=422)


def _missing(loc: list[str]) -> web.Response:
    return _invalid(loc, "Field required", "missing")


class MissingField(ValueError):
    """The multipart field holding the files is absent (FastAPI: 422 `missing`)."""


class NotAFile(Exception):
    """The field holding the files is a plain form value (FastAPI: 422 `value_error`)."""

    def __init__(self, value: bytes) -> None:
        super().__init__("Value error, Expected UploadFile, received: <class 'str'>")
        self.value = value.decode("utf-8", "replace")


def _not_a_file(field: str, exc: NotAFile) -> web.Response:
    return _invalid(["body", field], str(exc), "value_error", exc.value, {"error": {}})


async def _read_part(part, budget: int, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(256 * 1024):
        size += len(chunk)
        if size > budget:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=limit - budget + size)
        chunks.append(chunk)
    return b"".join(chunks)


async def _multipart_files(request: web.Request, field: str, limit: int) -> list[tuple[str, bytes]]:
    """The files of multipart field `field`; the whole body may not exceed `limit` bytes
    (checked while reading, also for chunked bodies without a Content-Length)."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        if field in form:
            raise NotAFile(str(form[field]).encode())
    if not request.content_type.startswith("multipart/"):
        raise MissingField(f"expected multipart/form-data with the image in field '{field}', "
                           f"got content type {request.content_type!r}")
    files = []
    budget = limit
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ValueError("nested multipart parts are not supported")
            data = await _read_part(part, budget, limit)
            budget -= len(data)
            if part.name == field:
                if part.filename is None:
                    raise NotAFile(data)
                files.append((part.filename, data))
    except (web.HTTPException, NotAFile):
        raise
    except Exception as exc:  # aiohttp's parser raises several kinds for a broken body
        raise ValueError(f"malformed multipart body: {type(exc).__name__}: {exc}".strip()) from exc
    if not files:
        raise MissingField(f"no file in multipart field '{field}'")
    return files


async def _files_or_refusal(request: web.Request, field: str, limit: int
                            ) -> list[tuple[str, bytes]] | web.Response:
    """The files of multipart field `field`, or the answer refusing the body."""
    try:
        return await _multipart_files(request, field, limit)
    except MissingField:
        return _missing(["body", field])
    except NotAFile as exc:
        return _not_a_file(field, exc)
    except ValueError as exc:
        return _error(400, str(exc))


def _bool_query(value: str | None, name: str) -> bool:
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"query parameter {name} must be a boolean, got {value!r}")


_SIO_PATHS = ("/ws/socket.io", "/socket.io")


def presented_keys(headers: Any, auth: Any = None) -> list[str | None]:
    bearer = headers.get("Authorization") or ""
    keys = [headers.get("x-api-key"),
            bearer[7:].strip() if bearer.lower().startswith("bearer ") else None]
    if isinstance(auth, dict):
        keys += [auth.get("token"), auth.get("apiKey"), auth.get("api_key")]
    return [k if isinstance(k, str) else None for k in keys]


def key_ok(api_key: str | None, keys: list[str | None]) -> bool:
    if not api_key:
        return True
    return any(k is not None and hmac.compare_digest(k.encode(), api_key.encode()) for k in keys)


def guard_middleware(service: DetectorService, bound_host: str | None):
    """DNS rebinding guard (bound to loopback: Host and Origin must name loopback), the
    optional API key, and FastAPI-shaped JSON for 404/405 (as the Loop's detector answers)."""
    check_host = bound_host is not None and is_loopback_host(bound_host)

    @web.middleware
    async def guard(request: web.Request, handler):
        refusal = check_host and foreign_host_or_origin(request.headers.get("Host"),
                                                        request.headers.get("Origin"))
        if refusal and refusal.header == "Host":
            return _error(421, f"Host {refusal.value!r} is not this detector: it serves loopback "
                               "only (localhost, 127.0.0.1, [::1]); a request naming another "
                               "host is refused (DNS rebinding guard)")
        if refusal:
            return _error(403, f"Origin {refusal.value!r} may not use this detector: only pages "
                               "served from localhost, 127.0.0.1 or [::1] may")
        if service.config.api_key and not request.path.startswith(_SIO_PATHS) and \
                not key_ok(service.config.api_key, presented_keys(request.headers)):
            return _error(401, "missing or invalid API key (send x-api-key or Authorization: Bearer)")
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _error(404, "Not Found")
        except web.HTTPMethodNotAllowed:
            return _error(405, "Method Not Allowed")
        except web.HTTPRequestEntityTooLarge as exc:
            return _error(413, f"request body too large: {exc.text}")

    return guard


@dataclass(frozen=True)
class _Refusal:
    """How a PUT with a text body answers a refused value: `status` and `text` (the
    error's message in {}); `unreadable` for a body that is not UTF-8 (default: `text`);
    `busy` answers 202 for a TimeoutError (the change still running)."""

    status: int
    text: str = "{}"
    unreadable: str | None = None
    busy: str | None = None


# As the Learning Loop's detector answers each (the status codes and wording differ).
_TEXT_REFUSALS = {
    "set_model_version": _Refusal(400),
    "set_outbox_mode": _Refusal(422, "Could not set outbox mode: {}",
                                busy="Setting has not completed, yet: {}"),
    "set_operation_mode": _Refusal(422),
    "debug_logging": _Refusal(400, unreadable="Invalid state: {}"),
}


def add_routes(app: web.Application, service: DetectorService) -> None:
    """The REST route of every operation that has one, and /openapi.json, /docs: getters
    and text-body setters from the table alone, detect and upload read here."""
    limit = service.config.max_request_bytes
    handlers: dict[str, Any] = {}

    def serves(name: str):
        def register(handler):
            handlers[name] = handler
            return handler
        return register

    @serves("detect")
    async def detect(request: web.Request) -> web.Response:
        headers = request.headers
        autoupload = headers.get("autoupload")
        if autoupload is not None and autoupload not in AUTOUPLOAD_MODES:
            return _invalid(["header", "autoupload"], "Input should be 'filtered', 'all' or 'disabled'",
                            "literal_error", autoupload, {"expected": "'filtered', 'all' or 'disabled'"})
        files = await _files_or_refusal(request, "file", limit)
        if isinstance(files, web.Response):
            return files
        name, data = files[0]
        tags = headers.get("tags")
        # Hyphens are the Loop's documented header names; the underscore forms are also read.
        camera_id = headers.get("camera-id") or headers.get("camera_id") or headers.get("mac")
        try:
            meta = await ops.detect(
                service, data, camera_id=camera_id or None,
                tags=tags.split(",") if tags else [],
                source=headers.get("source"), autoupload=autoupload or "filtered",
                creation_date=headers.get("creation-date") or headers.get("creation_date"))
        except ImageError as exc:
            return _error(exc.status, f"{name}: {exc}")
        except DetectorUnavailable as exc:
            return _error(503, str(exc))
        except Exception as exc:  # a failing logic must not take the service down
            log.exception("detection failed")
            return _error(500, f"detection failed: {type(exc).__name__}: {exc}")
        return web.json_response(meta.to_dict())

    @serves("upload")
    async def upload(request: web.Request) -> web.Response:
        raw_priority = request.query.get("upload_priority")
        try:
            priority = _bool_query(raw_priority, "upload_priority")
        except ValueError:
            return _invalid(["query", "upload_priority"],
                            "Input should be a valid boolean, unable to interpret input",
                            "bool_parsing", raw_priority)
        files = await _files_or_refusal(request, "files", limit)
        if isinstance(files, web.Response):
            return files
        source, created = request.query.get("source"), request.query.get("creation_date")
        metas = [ImageMetadata(source=source, created=created) for _ in files]
        try:
            await ops.upload(service, [(None, data) for _, data in files], metas, priority)
        except ImageError as exc:
            return _error(exc.status, f"nothing queued: {exc}")
        except OSError as exc:
            return _error(507, f"nothing queued: the outbox could not be written: {exc}")
        return web.json_response([200, "OK"])

    def answer_get(op: Operation):
        async def handler(request: web.Request) -> web.Response:
            result = await op.run(service)
            if op.answer == "text/plain":
                return web.Response(text=result)
            return web.json_response(result)
        return handler

    def answer_put_text(op: Operation, refusal: _Refusal):
        async def handler(request: web.Request) -> web.Response:
            try:
                text = await _body_text(request)
            except ValueError as exc:
                return _error(refusal.status, (refusal.unreadable or refusal.text).format(exc))
            try:
                result = await op.run(service, text)
            except ValueError as exc:
                return _error(refusal.status, refusal.text.format(exc))
            except TimeoutError as exc:
                if refusal.busy is None:
                    raise
                return _error(202, refusal.busy.format(exc))
            return web.json_response("OK" if result is None else result)
        return handler

    for op in OPERATIONS:
        if op.name in handlers or op.rest is None:
            continue
        if op.rest[0] == "GET":
            handlers[op.name] = answer_get(op)
        elif op.body == "text":
            handlers[op.name] = answer_put_text(op, _TEXT_REFUSALS[op.name])

    served = {op.name for op in OPERATIONS if op.rest}
    if set(handlers) != served:  # the table and this module must agree
        raise RuntimeError(f"REST handlers {sorted(set(handlers) ^ served)} do not match "
                           f"the operations table")
    for op in OPERATIONS:
        if op.rest is None:
            continue
        method, path = op.rest
        if method == "GET":
            app.router.add_get(path, handlers[op.name])  # with HEAD, as FastAPI
        else:
            app.router.add_route(method, path, handlers[op.name])

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    async def docs(request: web.Request) -> web.Response:
        return web.Response(text=_DOCS_HTML, content_type="text/html")

    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/docs", docs)


async def _body_text(request: web.Request) -> str:
    body = await request.read()
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the body is not UTF-8 text: {exc}") from None


_BODIES: dict[str, dict[str, Any]] = {
    "multipart-file": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}}}}}},
    "multipart-files": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["files"], "properties": {"files": {
            "type": "array", "items": {"type": "string", "format": "binary"}}}}}}},
    "text": {"required": True, "content": {"text/plain": {}}},
}


def _openapi_operation(op: Operation) -> dict[str, Any]:
    spec: dict[str, Any] = {"summary": op.summary, "responses": {"200": {
        "description": "OK", "content": {op.answer: {}}}}}
    if op.params:
        spec["parameters"] = [
            {"name": p.name, "in": p.where, "required": False, "schema": {"type": p.kind},
             **({"description": p.description} if p.description else {})}
            for p in op.params]
    if op.body is not None:
        spec["requestBody"] = _BODIES[op.body]
    return spec


def openapi_document() -> dict[str, Any]:
    """An OpenAPI 3.1 description of the REST routes (what /openapi.json serves), from
    the operations table."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        if op.rest is not None and op.documented:
            method, path = op.rest
            paths.setdefault(path, {})[method.lower()] = _openapi_operation(op)
    return {"openapi": "3.1.0",
            "info": {"title": "detector_node (Learning Loop detector API)", "version": "0.1.0"},
            "paths": paths}


_DOCS_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>detector_node API</title>
</head><body><h1>detector_node API</h1><p>The OpenAPI description is at
<a href="/openapi.json">/openapi.json</a>; Socket.IO is served at <code>/ws/socket.io</code>.</p>
<ul id="ops"></ul><script>
fetch('/openapi.json').then(r => r.json()).then(d => { for (const [p, ops] of Object.entries(d.paths))
  for (const [m, o] of Object.entries(ops)) { const li = document.createElement('li');
    li.textContent = m.toUpperCase() + ' ' + p + ': ' + o.summary; ops_list.appendChild(li); } });
const ops_list = document.getElementById('ops');
</script></body></html>
"""


