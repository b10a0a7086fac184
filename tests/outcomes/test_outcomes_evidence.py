"""The delivery address in the evidence (issue 18): in full in the sealed package's ``delivery.json``,
masked in its facts and history; the package verifies."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.evidence.conftest import Env, env, make_app, make_env, seal_key_file  # noqa: F401  (fixtures)
from tests.evidence.test_package import download
from tests.signaling.conftest import demo  # noqa: F401  (fixtures)
from window_server.appkeys import QUEUE, STORE
from window_server.evidence.keys import read_public_key
from window_server.evidence.verify import verify_package
from window_server.http.evidence import EVIDENCE

FULL = {"recipient": "李四", "phone": "139 0000 1234", "address": "上海市黄浦区南京东路100号3楼"}


async def test_the_package_holds_the_address_in_full_and_nothing_else_does(env: Env, seal_key_file: Path,  # noqa: F811
                                                                          tmp_path: Path) -> None:
    queue, store = env.app[QUEUE], env.app[STORE]
    await queue.delivery_address(env.agent, env.sid, FULL["recipient"], FULL["phone"], FULL["address"])
    await queue.complete(env.agent, env.sid, "postal_delivery")
    await store.rate(env.sid, env.booth, 4)
    assert await env.app[EVIDENCE].sealer.seal_due() == 1
    status, body, _ = await download(env, env.sid, env.cookie(env.agent_cookie))
    assert status == 200
    path = tmp_path / "package.zip"
    path.write_bytes(body)
    assert verify_package(path, read_public_key(seal_key_file)).ok

    with zipfile.ZipFile(path) as zf:
        delivery = json.loads(zf.read("delivery.json"))
        facts = json.loads(zf.read("facts.json"))
        others = b"".join(zf.read(n) for n in zf.namelist() if n != "delivery.json").decode("utf-8", "replace")
    assert delivery == {"sid": env.sid, "delivery": FULL}
    assert facts["outcome"] == "postal_delivery"
    assert facts["delivery"] == {"recipient": "李*", "phone": "139****1234", "address": "上海市黄浦区****"}
    for secret in ("南京东路", "139 0000 1234", "李四"):
        assert secret not in others
