"""A real HAProxy (2.6 or later) kept in step through its runtime API, never reloaded.

``HAProxyRuntime`` talks to HAProxy's admin-level stats socket (``stats socket PATH level
admin``), one short connection per command, as ``socat`` would:

* ``add server BACKEND/NAME ADDR:PORT check inter … rise … fall …`` (dynamic servers do not
  inherit ``default-server``, so every check setting is given), then in one command line
  ``enable health``, ``enable server`` and ``set server … health down``: a new server takes
  no traffic until ``rise`` checks in a row pass;
* ``set server BACKEND/NAME state ready|drain|maint``;
* ``set server … state maint``, ``shutdown sessions server …`` and ``del server …`` to delete
  (HAProxy deletes only servers in maintenance with no connections);
* ``show stat`` (CSV) to list a backend's servers: ``status`` (UP, DOWN, ``UP 1/2`` going
  down, ``DOWN 1/2`` going up, DRAIN, MAINT, NOLB), ``check_status`` (INI before the first
  check, L4OK/L6OK/L7OK passing, others failing), ``scur`` (current sessions) and ``addr``.

The backend itself (``balance roundrobin``, ``option httpchk GET /``, timeouts, retries) is
HAProxy's configuration: ``scripts/services.sh`` writes one.
"""

from __future__ import annotations

import csv
import socket
from collections.abc import Mapping
from typing import Final

from clusterkit.balancing._balancer import AdminState, CheckState, HealthCheckSettings, LoadBalancerError, Server

__all__ = ["HAProxyRuntime", "parse_show_stat"]

_PASSING: Final = frozenset({"L4OK", "L6OK", "L7OK", "L7OKC"})
_SERVER_TYPE: Final = "2"  # show stat's ``type`` column: 0 frontend, 1 backend, 2 server
_OK_ANSWERS: Final = ("", "New server registered.", "Server deleted.")


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _server(row: Mapping[str, str]) -> Server:
    status = row.get("status", "")
    admin: AdminState = "ready"
    if status.startswith("MAINT"):
        admin = "maint"
    elif status.startswith("DRAIN"):
        admin = "drain"
    check_status = row.get("check_status", "").lstrip("* ").strip()
    check: CheckState = "init"
    if check_status in _PASSING:
        check = "passing"
    elif check_status and check_status != "INI":
        check = "failing"
    # "UP", "UP 1/2" (going down), "NOLB" and a drained server still answering checks are up
    up = status.startswith(("UP", "NOLB")) or (admin == "drain" and check == "passing")
    address, _, port = row.get("addr", "").rpartition(":")
    return Server(
        name=row["svname"],
        address=address,
        port=int(port) if port.isdigit() else 0,
        admin=admin,
        up=up,
        check=check,
        sessions=int(row.get("scur") or 0),
        requests=int(row.get("req_tot") or row.get("stot") or 0),  # HTTP requests sent to the server
    )


def parse_show_stat(text: str, backend: str) -> dict[str, Server]:
    """The servers of ``backend`` in HAProxy's ``show stat`` CSV output, by name."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise LoadBalancerError(f"show stat: unexpected answer {text[:200]!r}")
    rows = csv.DictReader([lines[0][2:], *(line for line in lines[1:] if line)])
    return {
        row["svname"]: _server(row) for row in rows if row.get("pxname") == backend and row.get("type") == _SERVER_TYPE
    }


class HAProxyRuntime:
    """A ``LoadBalancerRuntime`` on a running HAProxy, through its runtime API at ``socket_path``.

    ``timeout`` bounds each command. Raises LoadBalancerError when HAProxy is unreachable or
    refuses a command (its answer is the error's text).
    """

    def __init__(self, socket_path: str, *, timeout: float = 5.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HAProxyRuntime({self.socket_path!r})"

    def command(self, line: str) -> str:
        """Send one command line (several commands joined by ``;``) and return the answer."""
        if "\n" in line:
            raise LoadBalancerError(f"command={line!r}: one line only")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(self.timeout)
                connection.connect(self.socket_path)
                connection.sendall(line.encode() + b"\n")
                chunks: list[bytes] = []
                while chunk := connection.recv(65536):
                    chunks.append(chunk)
        except OSError as error:
            raise LoadBalancerError(f"haproxy runtime API at {self.socket_path}: {error}") from None
        return b"".join(chunks).decode(errors="replace")

    def _expect_ok(self, line: str) -> None:
        answer = self.command(line)
        problems = [part.strip() for part in answer.split("\n") if part.strip() not in _OK_ANSWERS]
        if problems:
            raise LoadBalancerError(f"haproxy refused {line!r}: {' '.join(problems)}")

    def servers(self, backend: str) -> Mapping[str, Server]:
        """The backend's servers by name (``show stat``); LoadBalancerError for an unknown backend."""
        text = self.command("show stat")
        if f"\n{backend},BACKEND," not in text:
            raise LoadBalancerError(f"backend={backend!r}: no such backend in haproxy")
        return parse_show_stat(text, backend)

    def add(self, backend: str, server: str, address: str, port: int, check: HealthCheckSettings) -> None:
        """``add server`` with its checks, then checks on, forced down, and in service."""
        where = f"{backend}/{server}"
        self._expect_ok(
            f"add server {where} {address}:{port} check inter {_ms(check.interval)} rise {check.rise} fall {check.fall}"
        )
        self._expect_ok(f"enable health {where}; enable server {where}; set server {where} health down")

    def enable(self, backend: str, server: str) -> None:
        """``set server … state ready``."""
        self._expect_ok(f"set server {backend}/{server} state ready")

    def drain(self, backend: str, server: str) -> None:
        """``set server … state drain``."""
        self._expect_ok(f"set server {backend}/{server} state drain")

    def maint(self, backend: str, server: str) -> None:
        """``set server … state maint``."""
        self._expect_ok(f"set server {backend}/{server} state maint")

    def delete(self, backend: str, server: str) -> None:
        """Maintenance, its sessions shut, then ``del server``; a missing server is no error."""
        where = f"{backend}/{server}"
        answer = self.command(f"set server {where} state maint; shutdown sessions server {where}; del server {where}")
        if "Server deleted." in answer or "No such server" in answer:
            return
        raise LoadBalancerError(f"haproxy did not delete {where}: {' '.join(answer.split())}")
