"""Every StoreError of EtcdStore says why, per endpoint: refused, timed out, not etcd."""

from __future__ import annotations

import pytest

from clusterkit import StoreError
from clusterkit.state import EtcdStore
from tests.etcd._http import answering, refused, silent


def _error(*endpoints: str) -> str:
    with pytest.raises(StoreError) as caught:
        EtcdStore(list(endpoints), prefix="/nowhere", timeout=0.5)
    return str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (200, b"<html>hello</html>", "not etcd: answered with a body that is not JSON"),
        (200, b"{}", "not etcd: answered JSON without etcd's header"),
        (200, b"[1, 2]", "not etcd: answered JSON without etcd's header"),
        (404, b"no such page", "not etcd: answered HTTP"),
        (500, b"oops", "not etcd: answered HTTP"),
    ],
)
def test_an_endpoint_that_answers_http_but_is_not_etcd_is_named(status: int, body: bytes, says: str) -> None:
    with answering(status, body) as url:
        message = _error(url)
    assert url in message and says in message
    assert "JSONDecodeError" not in message and "KeyError" not in message


def test_a_refused_connection_and_a_timeout_are_told_apart() -> None:
    nobody = refused()
    with silent() as quiet:
        message = _error(nobody, quiet)
    assert f"{nobody}: refused the connection" in message
    assert f"{quiet}: timed out after 0.5s" in message
