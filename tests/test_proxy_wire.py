"""The messages between the engine's proxy and its splice process (`proxy.wire`, pure)."""

from __future__ import annotations

import pytest

from probelab.engine.proxy import wire
from probelab.engine.proxy.rules import Endpoint


def test_a_rule_set_survives_the_wire() -> None:
    usable = (Endpoint("127.244.0.5", 8080, True, True, False, "web-1"),
              Endpoint("127.244.0.6", 8080, False, True, True, "web-2"))
    msg = wire.decode(wire.encode("rules", version=3, routes={"7": wire.rows(usable)}))
    assert msg["op"] == "rules" and msg["version"] == 3
    assert wire.endpoints(msg["routes"]["7"]) == usable


def test_one_message_is_one_line() -> None:
    data = wire.encode("listen", id=1, host="127.0.0.1", port=30080, name="a\nb", endpoints=[])
    assert data.endswith(b"\n") and data.count(b"\n") == 1


@pytest.mark.parametrize("line", [b'{"v": 2, "op": "rules"}', b'{"op": "rules"}', b"[1]",
                                  b'{"v": 1}'])
def test_another_version_or_no_op_is_refused(line: bytes) -> None:
    with pytest.raises(ValueError):
        wire.decode(line)
