"""Health, readiness and the one HTTP error shape, against a real server and real Redis."""

from __future__ import annotations

from aiohttp import web

from window_server.app import create_app
from window_server.runtime.redis_server import free_port


async def test_healthz_answers(start_server) -> None:
    srv = await start_server()
    async with srv.http.get(srv.url + "/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}


async def test_readyz_with_redis_up(start_server) -> None:
    srv = await start_server()
    async with srv.http.get(srv.url + "/readyz") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ready"


async def test_readyz_with_redis_down_is_503_in_the_error_shape(start_server) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    srv = await start_server(redis_url=dead, redis_timeout=0.5)
    async with srv.http.get(srv.url + "/healthz") as resp:
        assert resp.status == 200  # the process is alive even when Redis is not
    async with srv.http.get(srv.url + "/readyz") as resp:
        assert resp.status == 503
        body = await resp.json()
        assert body["error"]["code"] == "redis_unavailable"
        assert set(body["error"]) <= {"code", "message", "field"}


async def test_unknown_path_and_wrong_method_use_the_error_shape(start_server) -> None:
    srv = await start_server()
    async with srv.http.get(srv.url + "/no/such/thing") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    async with srv.http.post(srv.url + "/healthz") as resp:
        assert resp.status == 405
        assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_unexpected_exception_is_internal_error_without_traceback(start_server, make_settings) -> None:
    app = create_app(make_settings())

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail 3301021990")

    app.router.add_get("/boom", boom)
    srv = await start_server(app=app)
    async with srv.http.get(srv.url + "/boom") as resp:
        assert resp.status == 500
        text = await resp.text()
        assert "secret" not in text and "Traceback" not in text
        assert (await resp.json())["error"]["code"] == "internal_error"
