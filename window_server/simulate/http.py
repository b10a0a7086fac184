"""The HTTP side the simulated clients need: connect tokens, staff logins, the catalogue, figures."""

from __future__ import annotations

from typing import Any

import aiohttp

from window_server.simulate.recorder import AckRecorder, Refused


class SimHttp:
    """JSON calls to one server (``base``) over a shared session; errors become ``Refused``.

    Every failed call is counted in ``recorder.errors`` under the server's error code (or
    ``http_<status>``, ``http_unreachable``).
    """

    def __init__(self, http: aiohttp.ClientSession, base: str, recorder: AckRecorder) -> None:
        self.http, self.base, self.recorder = http, base.rstrip("/"), recorder

    async def call(self, method: str, path: str, *, body: Any = None, cookie: str = "",
                   bearer: str = "") -> tuple[Any, aiohttp.ClientResponse]:
        headers = {}
        if cookie:
            headers["Cookie"] = f"rw_session={cookie}"
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            async with self.http.request(method, self.base + path, json=body, headers=headers) as resp:
                if resp.content_type == "application/json":
                    data: Any = await resp.json()
                else:
                    data = await resp.text()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.recorder.error("http_unreachable")
            raise Refused("http_unreachable", f"{method} {path}: {type(exc).__name__}") from None
        if resp.status >= 400:
            err = data.get("error") if isinstance(data, dict) else None
            code = str(err.get("code")) if isinstance(err, dict) and err.get("code") else f"http_{resp.status}"
            self.recorder.error(code)
            raise Refused(code, f"{method} {path}: HTTP {resp.status}")
        return data, resp

    async def booth_token(self, booth: str, booth_token: str) -> str:
        """A single-use connect token for ``booth``'s kiosk (/booth)."""
        data, _ = await self.call("POST", f"/api/booths/{booth}/connect-token", body={"role": "booth"},
                                  bearer=booth_token)
        return str(data["token"])

    async def login(self, username: str, password: str) -> str:
        """Log a member of staff in; return the login cookie's value."""
        _, resp = await self.call("POST", "/api/login", body={"username": username, "password": password})
        morsel = resp.cookies.get("rw_session")
        if morsel is None or not morsel.value:
            self.recorder.error("no_cookie")
            raise Refused("no_cookie", "the login answered without its cookie")
        return morsel.value

    async def staff_token(self, cookie: str, namespace: str = "/agent") -> str:
        data, _ = await self.call("POST", "/api/connect-token", body={"namespace": namespace}, cookie=cookie)
        return str(data["token"])

    async def get(self, path: str, cookie: str = "") -> Any:
        data, _ = await self.call("GET", path, cookie=cookie)
        return data
