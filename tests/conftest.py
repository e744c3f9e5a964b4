"""Real servers for the tests: SeaweedFS (`weed mini`), Redis (embedded or CROPWATCH_TEST_REDIS_URL),
SQLite and, when CROPWATCH_TEST_POSTGRES_URL is set, PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path

import pytest

from training.ultralytics_env import configure_ultralytics

configure_ultralytics(Path(tempfile.gettempdir()) / "cropwatch-test-ultralytics")

from helpers import DB_BACKENDS, TEST_PG, TEST_REDIS  # noqa: E402
from helpers import drop_bucket as _drop_bucket  # noqa: E402
from helpers import pg_database as _pg_database  # noqa: E402

from cropwatch.core.settings import Settings  # noqa: E402
from cropwatch.embedded import EmbeddedRedis, EmbeddedS3, free_port  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.sqlite_only``: the PostgreSQL copies of such tests are deselected (reported as such)."""
    dropped = [
        item
        for item in items
        if item.get_closest_marker("sqlite_only")
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("db_url") == "postgresql"
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    server = EmbeddedS3(
        tmp_path_factory.mktemp("s3"), s3_port=free_port(), access_key="cw-test", secret_key="cw-test-secret"
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    if TEST_REDIS:
        import redis

        redis.Redis.from_url(TEST_REDIS).flushdb()
        yield TEST_REDIS
        return
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="cwr-"))).start()  # short path for the unix socket
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory):
    """The schema migrated once per run (Alembic, head): each test's database is a copy of it (a file copy for
    SQLite, ``CREATE DATABASE ... TEMPLATE`` for PostgreSQL), not a fresh run of every migration."""
    import sqlalchemy as sa

    from cropwatch.core.db import engine_for
    from cropwatch.core.migrate import upgrade

    sqlite_file = tmp_path_factory.mktemp("db-template") / "cropwatch.db"
    upgrade(f"sqlite:///{sqlite_file}")
    engine_for(f"sqlite:///{sqlite_file}").dispose()
    with contextlib.closing(sqlite3.connect(sqlite_file)) as conn:  # fold any WAL into the file before copying
        conn.execute("PRAGMA journal_mode=DELETE")
    templates = {"sqlite": sqlite_file}
    admin = None
    if TEST_PG:
        admin, name, url = _pg_database()
        upgrade(url)
        engine_for(url).dispose()
        templates["postgresql"] = name
    yield templates
    if admin is not None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{templates["postgresql"]}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=DB_BACKENDS)
def db_url(request, tmp_path, migrated_templates):
    if request.param == "sqlite":
        path = tmp_path / "cropwatch.db"
        shutil.copyfile(migrated_templates["sqlite"], path)
        yield f"sqlite:///{path}"
        return
    import sqlalchemy as sa

    from cropwatch.core.db import engine_for

    admin, name, url = _pg_database(template=migrated_templates["postgresql"])
    yield url
    engine_for(url).dispose()
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _forget_rate_limits(url: str) -> None:
    """Each test starts with no sign-in failures or camera requests counted: the counters live in the session's
    Redis for 15 minutes, so one test's lock-out (tests/api/test_rate_limits.py) would refuse the next tests'
    sign-ins of the same user from the same address."""
    import redis

    from cropwatch.core.heartbeat import redis_url_for
    from cropwatch.core.ratelimit import PREFIX

    client = redis.Redis.from_url(redis_url_for(url))  # the embedded server's redis+socket:// is Celery's spelling
    keys = list(client.scan_iter(f"{PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def settings(tmp_path, db_url, s3_server, redis_url):
    s = Settings(
        _env_file=None,
        environment="test",
        data_dir=tmp_path / "data",
        database_url=db_url,
        broker_url=redis_url,
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket=f"cw-{uuid.uuid4().hex[:12]}",
        max_attempts=3,
        onnx_threads=1,
        detect_conf=0.001,  # the pipeline is under test, not the weak from-scratch model
    )
    _forget_rate_limits(redis_url)
    yield s
    _drop_bucket(s3_server, s.s3_bucket)


@pytest.fixture
def storage(settings):
    from cropwatch.core.storage import Storage

    s = Storage(settings)
    s.ensure_bucket()
    return s


@pytest.fixture
def sessions(settings):
    from cropwatch.core.db import session_factory

    return session_factory(settings.db_url)


@pytest.fixture
def models_registered(sessions, storage):
    """The shipped rice pest and tomato ripeness models, registered as production in this test's database and
    bucket: one model per task, as most tests need (``all_models_registered``: every shipped family)."""
    from models import registry

    with sessions.begin() as s:
        versions = registry.bootstrap(s, storage, families={"pest-rice", "ripeness-tomato"})
        assert {v.task.value for v in versions} >= {"pest"}, "the shipped pest model is missing under models/pest"
        return {v.task.value: v.id for v in versions}


@pytest.fixture
def all_models_registered(sessions, storage):
    """Every shipped model (rice, vegetable and sticky-trap pests, tomato ripeness) as production: {family: id}."""
    from models import registry

    with sessions.begin() as s:
        versions = registry.bootstrap(s, storage)
        return {v.family: v.id for v in versions}
