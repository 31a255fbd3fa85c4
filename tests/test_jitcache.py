"""The one-time compilation of the numerical kernels is announced (issue 21), and only when it happens."""

from __future__ import annotations

import logging

import pytest

from kansho import _jitcache


def test_warm_cache_is_not_announced(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # tests/conftest.py compiled every kernel before the tests: the cache is warm
    missing, total = _jitcache.uncached_kernels()
    assert total >= 10 and 2 * len(missing) <= total, missing
    monkeypatch.setattr(_jitcache, "_announced", False)
    with caplog.at_level(logging.INFO, logger="kansho"):
        assert not _jitcache.announce()
    assert "compiling" not in caplog.text


def test_cold_cache_is_announced_once(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    real_exists = _jitcache.os.path.exists
    monkeypatch.setattr(_jitcache.os.path, "exists", lambda p: False if str(p).endswith(".nbi") else real_exists(p))
    monkeypatch.setattr(_jitcache, "_announced", False)
    with caplog.at_level(logging.INFO, logger="kansho"):
        assert _jitcache.announce()
        assert not _jitcache.announce()          # once per process
    assert caplog.text.count("compiling the numerical kernels, once") == 1
