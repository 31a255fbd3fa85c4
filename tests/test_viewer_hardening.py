"""The viewer against hostile or careless clients: a DNS-rebinding page (foreign ``Host`` header)
gets 403 and no data; absurd query values get 400, never 500; many concurrent clients are all
answered (deep listen queue)."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from tests._shared import FinishedRun

from kansho.viewer import make_server, serve_in_thread


@pytest.fixture(scope="module")
def server(small_run: FinishedRun) -> Any:
    srv, url = serve_in_thread(small_run.out)  # read-only use of the shared run
    yield srv, int(url.rsplit(":", 1)[1])
    srv.shutdown()
    srv.server_close()
    srv.app.run.close()


def _request(port: int, path: str, host: str | None = "default") -> tuple[int, bytes, dict[str, str]]:
    """GET ``path`` on 127.0.0.1 with the given ``Host`` header (``None``: none at all)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        if host == "default":
            conn.request("GET", path)
        else:
            conn.putrequest("GET", path, skip_host=True)
            if host is not None:
                conn.putheader("Host", host)
            conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}",
                                  "localhost.evil.example:{port}", "10.0.0.5:{port}", "", "[::1", "localhost:abc",
                                  "local host:{port}", "::1:{port}", None])
@pytest.mark.parametrize("path", ["/api/meta", "/api/pixel?row=30&col=30", "/files/info/parameters.yaml", "/"])
def test_a_foreign_host_header_is_refused_without_data(server: Any, host: str | None, path: str) -> None:
    _, port = server
    status, body, hdr = _request(port, path, None if host is None else host.format(port=port))
    assert status == 403
    assert hdr["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["code"] == "forbidden_host" and set(answer) == {"error", "code"}


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST.:{port}", "[::1]:{port}",
                                  "localhost:9000", "127.0.0.1"])
def test_the_servers_own_names_are_answered(server: Any, host: str) -> None:
    _, port = server
    status, body, _ = _request(port, "/api/meta", host.format(port=port))
    assert status == 200 and json.loads(body)["width"] > 0


def test_allowed_hosts_are_answered(server: Any) -> None:
    srv, port = server
    assert _request(port, "/api/meta", "viewer.lab.example")[0] == 403
    srv.allowed_hosts = frozenset({"viewer.lab.example"})
    try:
        assert _request(port, "/api/meta", "viewer.lab.example:8765")[0] == 200
    finally:
        srv.allowed_hosts = frozenset()


def test_host_rules_for_given_names_and_all_interfaces(small_run: FinishedRun, monkeypatch: Any) -> None:
    srv = make_server(small_run.out, "127.0.0.1", 0, allow_hosts=["Viewer.Lab.Example."])
    try:
        port = srv.host_port()[1]
        assert srv.host_allowed(f"viewer.lab.example:{port}") and srv.host_allowed("VIEWER.lab.example")
        assert not srv.host_allowed("192.168.1.5") and not srv.host_allowed("evil.example")
        # bound to all interfaces (not done for real in tests): any IP address names it, other names do not
        monkeypatch.setattr(srv, "host_port", lambda: ("0.0.0.0", port))
        assert srv.host_allowed(f"192.168.1.5:{port}") and srv.host_allowed("[fe80::1]:8765")
        assert srv.host_allowed("viewer.lab.example")
        assert not srv.host_allowed("evil.example") and not srv.host_allowed("192.168.1.5.evil.example")
        assert not srv.host_allowed(None) and not srv.host_allowed("")
    finally:
        srv.server_close()
        srv.app.run.close()


BAD_QUERIES = [
    "/api/pixel?lon=1e308&lat=0", "/api/pixel?lon=0&lat=1e308", "/api/pixel?lon=-1e308&lat=-1e308",
    "/api/pixel?lon=nan&lat=0", "/api/pixel?lon=0&lat=nan", "/api/pixel?lon=inf&lat=0", "/api/pixel?lon=1e999&lat=0",
    "/api/pixel?lon=0x10&lat=0", "/api/pixel?lon=1&lat=", "/api/pixel?lon=1",
    "/api/pixel?row=99999999999999999999&col=0", "/api/pixel?row=0&col=-99999999999999999999",
    "/api/pixel?row=-1&col=0", "/api/pixel?row=1e3&col=0", "/api/pixel?row=nan&col=0",
    "/api/pixel?row=" + "9" * 5000 + "&col=0", "/api/pixel?row=0",
    "/api/pixel?row=30&col=30&ref=0:99999999999999999999,0:1", "/api/pixel?row=30&col=30&ref=-5:1,0:1",
    "/api/pixel?row=30&col=30&ref=nan/nan/nan/nan", "/api/pixel?row=30&col=30&ref=1e308/1e308/0/1",
    "/api/pixel?row=30&col=30&ref=-1e308/1e308/-1e308/1e308", "/api/pixel?row=30&col=30&ref=0:1,0:1,0:1",
    "/api/ts.csv?lon=1e308&lat=0", "/api/ts.csv?row=99999999999999999999&col=0",
    "/api/map.png?epoch=99999999999999999999", "/api/map.png?epoch=-1", "/api/map.png?epoch=nan",
    "/api/map.png?max_px=-5", "/api/map.png?max_px=0", "/api/map.png?max_px=99999999999999999999",
    "/api/map.png?vmin=nan", "/api/map.png?vmax=inf", "/api/map.png?vmin=-1e308&vmax=1e308",
    "/api/map.png?vmin=1e999&vmax=2e999", "/api/map.png?vmin=5&vmax=1", "/api/map.png?cmap=nope",
    "/api/map.png?ref=1e308/1e308/0/1", "/api/map.png?layer=cum&epoch=1e3",
    "/api/hillshade.png?max_px=-1", "/api/hillshade.png?max_px=nan", "/api/hillshade.png?max_px=1e999",
    "/api/colormap?name=nan", "/api/colormap?name=" + "x" * 5000, "/api/map.png?cmap=" + "x" * 5000,
    # reference date, date range, second point, profile
    "/api/pixel?row=30&col=30&ref_date=20190231", "/api/pixel?row=30&col=30&ref_date=19000101",
    "/api/pixel?row=30&col=30&ref_date=nan", "/api/pixel?row=30&col=30&ref_date=" + "9" * 5000,
    "/api/pixel?row=30&col=30&d1=20180101", "/api/pixel?row=30&col=30&d1=20190101&d2=20180101",
    "/api/pixel?row=30&col=30&d1=18000101&d2=18000102", "/api/pixel?row=30&col=30&d1=x&d2=y",
    "/api/ts.csv?row=30&col=30&row2=-1&col2=0", "/api/ts.csv?row=30&col=30&row2=5",
    "/api/ts.csv?row=30&col=30&lon2=nan&lat2=0",
    "/api/map.png?layer=vel_range", "/api/map.png?layer=vel_range&d1=20190101&d2=20190102",
    "/api/profile", "/api/profile?line=", "/api/profile?line=1,2", "/api/profile?line=a,b;c,d",
    "/api/profile?line=1e308,0;0,0", "/api/profile?line=nan,0;1,1", "/api/profile?line=0,0;1,1",
    "/api/profile?line=" + ";".join(["0,0"] * 101), "/api/profile?line=1,2,3;4,5",
    "/api/profile?line={line}&epoch=99999", "/api/profile?line={line}&layer=vel_range",
    "/api/map.png?box=0:0,0:10", "/api/map.png?box=0:10,0:999", "/api/map.png?box=-1:10,0:10",
    "/api/map.png?box=a:b,c:d", "/api/map.png?box=0:10", "/api/map.png?box=0:10,0:10,0:1",
]


@pytest.mark.parametrize("path", BAD_QUERIES, ids=lambda p: p[:70])
def test_absurd_query_values_are_a_clear_400(server: Any, path: str) -> None:
    srv, port = server
    g = srv.app.run.grid
    path = path.replace("{line}", f"{g.lon()[5]},{g.lat()[5]};{g.lon()[20]},{g.lat()[20]}")
    status, body, hdr = _request(port, path)
    assert hdr["content-type"].startswith("application/json")
    assert status == 400, (path, body[:300])
    answer = json.loads(body)
    assert answer["code"] in ("bad_request", "outside_grid", "bad_epoch") and answer["error"]
    assert len(answer["error"]) < 300  # a 5000-digit value is not echoed back whole


@pytest.mark.parametrize("path", ["/files/" + "a" * 5000, "/files/" + "a/" * 3000 + "b", "/files/results",
                                  "/api/map.png?layer=" + "x" * 5000, "/api/nope?row=nan"], ids=lambda p: p[:40])
def test_odd_paths_are_a_4xx(server: Any, path: str) -> None:
    _, port = server
    status, body, _ = _request(port, path)
    assert 400 <= status < 500, (path, body[:300])
    assert len(json.loads(body)["error"]) < 300


def test_listen_queue_and_fifty_concurrent_clients(server: Any) -> None:
    srv, port = server
    assert srv.request_queue_size >= 64
    paths = ["/api/meta", "/api/pixel?row=30&col=30", "/api/map.png?layer=vel&max_px=64", "/api/colormap"]
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda i: _request(port, paths[i % len(paths)])[0], range(50)))
    assert results == [200] * 50
