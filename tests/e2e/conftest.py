import os
import shutil
import tempfile

import pytest

from phiguard_harness import Backend, Proxy, make_certs


@pytest.fixture(scope="session")
def certs():
    d = tempfile.mkdtemp(prefix="pg-certs-")
    make_certs(d)
    yield d
    if not os.environ.get("PG_KEEP_WORKDIR"):  # set it to keep logs for a post-mortem
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="pg-e2e-")
    yield d
    if not os.environ.get("PG_KEEP_WORKDIR"):  # set it to keep logs for a post-mortem
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def backend(workdir):
    b = Backend(workdir)
    yield b
    b.stop()


@pytest.fixture
def make_proxy(workdir, certs, backend):
    """make_proxy(overrides=None, upstream=None, start=True) -> Proxy; all
    are stopped at teardown, and each must exit 0 (leaks under ASan fail)."""
    started = []

    def make(overrides=None, upstream=None, start=True, name=None):
        p = Proxy(workdir, certs, upstream or backend.address, overrides, name or f"phiguard{len(started)}")
        started.append(p)
        return p.start() if start else p

    yield make
    for p in started:
        rc = p.stop()
        if rc not in (0, None):
            pytest.fail(f"phiguard exited {rc}:\n{p.stderr()[-4000:]}")


@pytest.fixture
def proxy(make_proxy):
    return make_proxy()
