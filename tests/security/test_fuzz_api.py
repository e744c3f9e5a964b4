"""Fuzz the HTTP API from its own OpenAPI schema (schemathesis, in process over ASGI), signed in as real users.

Every generated request must satisfy:

- no 5xx (``not_a_server_error``);
- the status code is documented, and the content type, headers and body are what the schema says for it;
- tenant isolation: a request that names an object of cooperative A (an id in the path, in the body, a lot of
  ``labels.pdf?ids=``, a filter in the query) is replayed with cooperative B's token (same role; B's camera for camera
  routes). A 2xx to B for a request that names A's object by path or body is a leak, and so is any 2xx body that B
  receives carrying an id of A's objects, A's cooperative id or a marker string only A's rows contain. Lists and
  other parameterless reads are replayed as B too and scanned the same way.

Two fuzz tests: every operation on its own (25 requests the schema allows and 10 it forbids, per operation), and a
stateful run over the links schemathesis infers between operations (an id a response names is used by the next
request: create → read, patch, act; 30 sequences of up to 8 calls). Both are derandomized, so CI sends the same
requests every time. Requests are steered towards A's real objects (about half of the id parameters are drawn from
A's seeded ids) and about half are sent with the role the route is for, the rest with any role (403 paths).
A third test covers what the fuzzer cannot send or cannot see.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from factories import Tenant, add_rule, make_tenant
from fastapi.testclient import TestClient
from helpers import planthopper_photo
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select, update

from api.app import create_app
from api.schemas import ID_MAX
from cropwatch.core.enums import ModelStage, Role
from cropwatch.core.orm import (
    Alert,
    AlertRule,
    ApiToken,
    Camera,
    Capture,
    DatasetVersion,
    Delivery,
    Detection,
    DiaryEntry,
    Farm,
    HarvestLot,
    ModelVersion,
    NotificationChannel,
    Plot,
    Review,
    TrainingRun,
)
from cropwatch.core.security import new_token, token_hash
from cropwatch.core.timeutil import utcnow

pytestmark = pytest.mark.slow  # ~1 min on SQLite, under 1 min more on PostgreSQL (2 cores); `make test-fast` skips it

# CI sends the same requests every run (derandomized). To explore further, run with CROPWATCH_FUZZ_SEED=<n> (other
# requests; the stateful run then explores at random) and/or CROPWATCH_FUZZ_EXAMPLES=<n>; a failure prints the request
# to reproduce.
SEED = int(os.environ.get("CROPWATCH_FUZZ_SEED", "0")) or None
MAX_EXAMPLES = int(os.environ.get("CROPWATCH_FUZZ_EXAMPLES", "25"))  # valid requests per operation
# The PostgreSQL copy sends fewer (also derandomized): it is there for what the engine changes
# (types, constraints, locking), while the SQLite copy explores the schema; together they stay within CI's time.
PG_EXAMPLES = int(os.environ.get("CROPWATCH_FUZZ_EXAMPLES", "10"))


def _negative(examples: int) -> int:
    """Requests the schema forbids, per operation that takes input."""
    return max(1, examples * 2 // 5)


MARK = "zz-only-in-coop-a-7f3c"  # in A's names and notes; B must never read it
PHOTO = planthopper_photo()

# What each id-like parameter or field names; the owner is the row's cooperative_id. Shared rows (model versions and
# datasets with cooperative_id NULL) belong to nobody and may be read by every cooperative.
ID_KINDS: dict[str, type] = {
    "plot_id": Plot,
    "plot_ids": Plot,
    "camera_id": Camera,
    "capture_id": Capture,
    "evidence_capture_id": Capture,
    "alert_id": Alert,
    "entry_id": DiaryEntry,
    "diary_entry_id": DiaryEntry,
    "rule_id": AlertRule,
    "channel_id": NotificationChannel,
    "lot_id": HarvestLot,
    "ids": HarvestLot,
    "dataset_id": DatasetVersion,
    "dataset_version_id": DatasetVersion,
    "run_id": TrainingRun,
    "training_run_id": TrainingRun,
    "model_id": ModelVersion,
    "model_version_id": ModelVersion,
    "base_model_version_id": ModelVersion,
    "detection_id": Detection,
    "farm_id": Farm,
}
# The kind of the top-level ``id`` of a response, by path template (collections and their items only).
RESOURCES: dict[str, type] = {
    "/api/v1/plots": Plot,
    "/api/v1/cameras": Camera,
    "/api/v1/captures": Capture,
    "/api/v1/alerts": Alert,
    "/api/v1/diary": DiaryEntry,
    "/api/v1/lots": HarvestLot,
    "/api/v1/channels": NotificationChannel,
    "/api/v1/alert-rules": AlertRule,
    "/api/v1/datasets": DatasetVersion,
    "/api/v1/training/runs": TrainingRun,
    "/api/v1/models": ModelVersion,
}
SUB_RESOURCES: dict[str, type] = {
    "/api/v1/captures/{capture_id}/reviews": Review,
    "/api/v1/alerts/{alert_id}/deliveries": Delivery,
}
OWNED = sorted(set(ID_KINDS.values()) | set(RESOURCES.values()) | set(SUB_RESOURCES.values()), key=lambda m: m.__name__)

PUBLIC = re.compile(r"^/(health|metrics|t/.*)$")  # no sign-in: public traceability pages and probes
CAMERA = re.compile(r"^/api/v1/(cameras/me/|ingest/)")  # device token
ML = re.compile(r"^/api/v1/(datasets|training/|models/\{model_id\}/(promote|rollback|shadow))")
USER_ROLES = [Role.member, Role.agronomist, Role.ml_engineer, Role.coop_admin]

# Not `negative_data_rejection`: pydantic's lax mode accepts `true` for a number, `false` for an integer and `1.0` for
# an integer id, which the schema forbids; that leniency is by design. Requests the schema forbids are still sent,
# and must get no 5xx and a documented answer.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Routes whose statuses are not all declared yet (none today: add an entry only with a reason).
KNOWN_UNDECLARED: dict[tuple[str, str], set[int]] = {}
UNBOUNDED_IDS: dict[tuple[str, str], str] = {}


def auth_kind(method: str, path: str) -> str:
    if PUBLIC.match(path):
        return "public"
    if CAMERA.match(path):
        return "camera"
    return "ml" if ML.match(path) else "admin"


@dataclass
class World:
    """Cooperatives A (whose objects are fuzzed) and B (who replays), the app, and A's seeded objects."""

    app: Any
    client: TestClient
    sessions: Any
    a: Tenant
    b: Tenant
    a_ids: dict[type, list[int]] = field(default_factory=dict)  # A's ids now (refreshed after A's writes)
    seeded: dict[type, list[int]] = field(default_factory=dict)  # A's ids after seeding: what requests are steered to
    role: Role | None = None  # the role of the case in flight
    _stale: bool = True

    # ------------------------------------------------------------------ who owns what
    def refresh(self) -> None:
        with self.sessions() as s:
            self.a_ids = {
                m: sorted(s.scalars(select(m.id).where(m.cooperative_id == self.a.cooperative_id))) for m in OWNED
            }
        self._stale = False

    def owned(self, model: type) -> list[int]:
        if self._stale:
            self.refresh()
        return self.a_ids.get(model, [])

    def is_a(self, name: str, value: Any) -> bool:
        """Does parameter/field ``name`` with ``value`` name an object of cooperative A?"""
        model = ID_KINDS.get(name)
        if model is None:
            return False
        values = (
            value
            if isinstance(value, list)
            else str(value).split(",")
            if name == "ids" and isinstance(value, str)
            else [value]
        )
        owned = set(self.owned(model))
        for v in values:
            try:
                if int(v) in owned and not isinstance(v, bool | float):
                    return True
            except (TypeError, ValueError):
                continue
        return False

    # ------------------------------------------------------------------ auth
    def token(self, tenant: Tenant, role: Role | None, fresh: bool = False) -> str:
        if role is None:  # the camera: undo a rotate/revoke the fuzzer may have sent for it
            with self.sessions.begin() as s:
                s.execute(
                    update(Camera)
                    .where(Camera.id == tenant.camera_id)
                    .values(token_hash=token_hash(tenant.camera_token), token_revoked_at=None)
                )
            return tenant.camera_token
        if fresh:  # logout revokes the token it is called with: give it one of its own
            tok = new_token("cw")
            with self.sessions.begin() as s:
                s.add(
                    ApiToken(
                        token_hash=token_hash(tok),
                        user_id=tenant.user_ids[role],
                        cooperative_id=tenant.cooperative_id,
                        expires_at=utcnow() + dt.timedelta(hours=1),
                    )
                )
            return tok
        return tenant.tokens[role]

    def sign_in(self, case, tenant: Tenant | None = None) -> None:
        """Send the case as ``tenant`` (A by default) with the role the ``flatmap_case`` hook drew (kept for B's
        replay; the default role of the operation when a phase did not draw one)."""
        case.headers = dict(case.headers or {})
        drawn = case.headers.pop("X-Fuzz-Role", None)
        kind = auth_kind(case.method, case.path)
        if kind == "public":
            case.headers.pop("Authorization", None)
            return
        if tenant is None:
            tenant = self.a
            self.role = (
                None
                if kind == "camera"
                else Role(drawn)
                if drawn
                else (Role.ml_engineer if kind == "ml" else Role.coop_admin)
            )
        tok = self.token(tenant, self.role, fresh=case.path == "/api/v1/auth/logout")
        case.headers["Authorization"] = f"Bearer {tok}"

    # ------------------------------------------------------------------ tenant isolation
    def references(self, case) -> tuple[list[str], list[str]]:
        """(names that select A's object: path, body, labels' ids; names that filter by A's object: query)."""
        selects = [k for k, v in (case.path_parameters or {}).items() if self.is_a(k, v)]
        if isinstance(case.body, dict):
            selects += [k for k, v in case.body.items() if self.is_a(k, v)]
        filters = []
        for k, v in (case.query or {}).items():
            if self.is_a(k, v):
                (selects if k == "ids" else filters).append(k)
        return selects, filters

    def leaks(self, path_template: str, body: Any, text: str) -> list[str]:
        found = [f"marker {MARK!r}"] if MARK in text else []
        top = RESOURCES.get(re.sub(r"/\{[^}]+\}$", "", path_template)) if path_template.count("{") <= 1 else None
        top = SUB_RESOURCES.get(path_template, top)

        def walk(node: Any, depth: int) -> None:
            if isinstance(node, list):
                for item in node:
                    walk(item, depth if depth == 0 else depth + 1)
            elif isinstance(node, dict):
                for k, v in node.items():
                    if k == "cooperative_id" and v == self.a.cooperative_id:
                        found.append(f"cooperative_id={v}")
                    elif k == "id" and depth == 0 and top is not None and v in self.owned(top):
                        found.append(f"{top.__name__} id={v}")
                    elif k in ID_KINDS and not isinstance(v, dict) and self.is_a(k, v):
                        found.append(f"{k}={v}")
                    else:
                        walk(v, depth + 1)

        walk(body, 0)
        return found

    def tenant_isolation(self, ctx, response, case) -> None:
        """Replay the request as cooperative B: it must not act on, nor show, anything of A's."""
        kind = auth_kind(case.method, case.path)
        if kind == "public" or response.status_code >= 500:
            return
        if case.method.upper() != "GET" and response.status_code < 300:
            self._stale = True  # A may have created objects
        selects, filters = self.references(case)
        plain_read = case.method.upper() == "GET" and "{" not in case.path and case.path != "/api/v1/cameras/me/model"
        if not (selects or filters or plain_read):
            return
        saved = dict(case.headers or {})
        try:
            self.sign_in(case, self.b)
            replay = case.call()
        finally:
            case.headers = saved
        if not 200 <= replay.status_code < 300:
            return
        assert not selects, (
            f"cooperative B got {replay.status_code} on {case.method} {case.path} naming A's object(s) "
            f"{selects}: {case.path_parameters} {case.query} {case.body!r:.300} -> {replay.text[:300]}"
        )
        ctype = replay.headers.get("content-type", [""])
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        if "json" in ctype or "text" in ctype or "html" in ctype:
            text = replay.text
            try:
                body = json.loads(text) if "json" in ctype else None
            except ValueError:
                body = None
            found = self.leaks(case.path, body, text)
            assert not found, (
                f"cooperative B's {case.method} {case.path} {case.query or ''} returned A's data {found}: {text[:300]}"
            )


# ---------------------------------------------------------------------------------------------------- the world
def _seed_a(client: TestClient, world: World, storage, sessions, models_registered) -> None:
    """A's objects of every kind, made through the API where it can: a processed capture with detections (edge
    path) and its alert and automatic diary entry, a review, a dataset version, a training run, a candidate model
    of A's own, a manual diary entry, a harvest lot, a notification channel."""
    a = world.a
    admin, agro, ml = a.auth(Role.coop_admin), a.auth(Role.agronomist), a.auth(Role.ml_engineer)
    with sessions.begin() as s:
        # the shipped pest model in production (an earlier test of the module may have promoted or rolled back)
        shipped = s.get(ModelVersion, models_registered["pest"])
        for mv in s.scalars(
            select(ModelVersion).where(ModelVersion.task == shipped.task, ModelVersion.stage == ModelStage.production)
        ):
            mv.stage = ModelStage.archived
        s.flush()
        shipped.stage = ModelStage.production
        rule = add_rule(s, a.cooperative_id, "planthopper", threshold=1)
        rule.name = f"rầy {MARK}"
        s.get(Plot, a.plot_id).name = f"Lô {MARK}"
        s.get(Camera, a.camera_id).name = f"cam {MARK}"
        shared = s.get(ModelVersion, models_registered["pest"])
        s.add(
            ModelVersion(
                cooperative_id=a.cooperative_id,
                task=shared.task,
                name=f"a-own {MARK}",
                onnx_key=shared.onnx_key,
                sha256=uuid.uuid4().hex * 2,
                classes=shared.classes,
                classes_vi=shared.classes_vi,
                input_size=shared.input_size,
                metrics=shared.metrics,
                stage=ModelStage.candidate,
            )
        )
        sha = shared.sha256
    data = PHOTO.read_bytes()
    slot = client.post(
        "/api/v1/ingest/slots",
        headers=a.camera_auth,
        json={"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "captured_at": utcnow().isoformat()},
    ).json()
    assert httpx.put(slot["upload_url"], content=data).status_code == 200
    edge = {
        "model_sha256": sha,
        "duration_ms": 40.0,
        "detections": [
            {"class_name": "planthopper", "score": 0.8, "box": [10, 10, 60, 70]},
            {"class_name": "planthopper", "score": 0.6, "box": [100, 100, 160, 150]},
        ],
    }
    r = client.post(f"/api/v1/ingest/captures/{slot['capture_id']}/confirm", headers=a.camera_auth, json={"edge": edge})
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    cap = client.get(f"/api/v1/captures/{slot['capture_id']}", headers=agro).json()
    r = client.post(
        f"/api/v1/captures/{cap['id']}/reviews",
        headers=agro,
        json={"action": "confirm", "detection_id": cap["detections"][0]["id"]},
    )
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/datasets", headers=ml, json={"name": "fuzz-a"})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/training/runs", headers=ml, json={"dataset_version_id": r.json()["id"], "epochs": 1})
    assert r.status_code == 202, r.text
    r = client.post(
        "/api/v1/diary", headers=agro, data={"plot_id": a.plot_id, "type": "observation", "title": MARK, "notes": MARK}
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/lots",
        headers=admin,
        json={"plot_id": a.plot_id, "harvested_on": str(dt.date.today()), "quantity": 120, "ripeness_grade": MARK},
    )
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/channels", headers=admin, json={"kind": "in_app", "name": MARK})
    assert r.status_code == 201, r.text
    # an alert the rule raised, and a second camera of A's for rotate/revoke
    with sessions() as s:
        assert s.scalars(select(Alert.id).where(Alert.cooperative_id == a.cooperative_id)).first() is not None
    r = client.post("/api/v1/cameras", headers=admin, json={"plot_id": a.plot_id, "name": f"spare {MARK}"})
    assert r.status_code == 201, r.text


@pytest.fixture
def fuzz_world(settings, storage, sessions, models_registered):
    app = create_app(settings, enqueue=lambda capture_id: None, enqueue_training=lambda run_id: None)
    with TestClient(app) as client:
        run = uuid.uuid4().hex[:8]  # unique codes: the database may be shared by the module (tests/security/conftest)
        with sessions.begin() as s:
            a, b = make_tenant(s, f"fuzz-a-{run}"), make_tenant(s, f"fuzz-b-{run}")
        world = World(app=app, client=client, sessions=sessions, a=a, b=b)
        _seed_a(client, world, storage, sessions, models_registered)
        world.refresh()
        world.seeded = {model: list(ids) for model, ids in world.a_ids.items()}  # fixed: generation must not
        # depend on what earlier requests created (Hypothesis replays a draw and expects the same choices)
        yield world


def _steer(world: World):
    """A ``flatmap_case`` hook: draw the role the case is sent with, and put A's real ids into id parameters."""

    def flatmap_case(context, case):
        kind = auth_kind(case.method, case.path)
        unbounded = UNBOUNDED_IDS.get((case.method.upper(), case.path))
        if unbounded and isinstance(case.path_parameters.get(unbounded), int):
            case.path_parameters[unbounded] %= ID_MAX
        parts = []
        if kind in ("ml", "admin"):
            default = Role.ml_engineer if kind == "ml" else Role.coop_admin
            parts.append(("role", None, st.one_of(st.just(default), st.sampled_from(USER_ROLES))))
        for where in ("path_parameters", "query", "body"):
            container = getattr(case, where)
            if not isinstance(container, dict):
                continue
            for name in container:
                ids = world.seeded.get(ID_KINDS[name], []) if name in ID_KINDS else []
                if not ids:
                    continue
                if name == "ids":
                    pick = st.lists(st.sampled_from(ids), min_size=1, max_size=3).map(lambda xs: ",".join(map(str, xs)))
                elif name == "plot_ids":
                    pick = st.lists(st.sampled_from(ids), min_size=1, max_size=2)
                else:
                    pick = st.sampled_from(ids)
                parts.append((where, name, st.one_of(st.just(container[name]), pick)))
        if not parts:
            return st.just(case)

        def apply(values):
            for (where, name, _), value in zip(parts, values):
                if where == "role":
                    case.headers = {**(case.headers or {}), "X-Fuzz-Role": value.value}
                else:
                    getattr(case, where)[name] = value
            return case

        return st.tuples(*(s for _, _, s in parts)).map(apply)

    return flatmap_case


@pytest.fixture
def api_schema(fuzz_world):
    # Authorization is set per request (``World.sign_in``), never generated; examples count and seeding are
    # Hypothesis settings (``_settings``).
    config = schemathesis.Config.from_dict({"generation": {"database": "none", "with-security-parameters": False}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.app, config=config)
    schema.hook(_steer(fuzz_world))
    return schema


def _validate(world: World, case, response) -> None:
    checks = CHECKS
    if response.status_code in KNOWN_UNDECLARED.get((case.method.upper(), case.path), set()):
        checks = [c for c in CHECKS if c not in (status_code_conformance, response_schema_conformance)]
    case.validate_response(response, checks=checks, additional_checks=[world.tenant_isolation])


def _settings(**kwargs: Any) -> settings:
    return settings(
        deadline=None, derandomize=SEED is None, database=None, suppress_health_check=list(HealthCheck), **kwargs
    )


def _fuzz(world: World, strategy, max_examples: int) -> None:
    @_settings(max_examples=max_examples)
    @given(case=strategy)
    def run(case) -> None:
        world.sign_in(case)
        _validate(world, case, case.call())

    (seed(SEED)(run) if SEED else run)()


def test_every_operation_keeps_its_schema_and_tenant_isolation(api_schema, fuzz_world, subtests, db_url):
    """Each operation on its own: valid requests (positive) and requests the schema forbids (negative).

    (Driven through ``APIOperation.as_strategy`` rather than ``schemathesis.pytest.from_fixture``: the latter renames
    the running pytest node through ``Function._nodeid``, which pytest 9 no longer has.)"""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 50, "the schema lost its operations"
    examples = PG_EXAMPLES if db_url.startswith("postgresql") else MAX_EXAMPLES
    for operation in operations:
        with subtests.test(operation.label):
            _fuzz(fuzz_world, operation.as_strategy(GenerationMode.POSITIVE), examples)
            if _has_inputs(operation):
                try:
                    _fuzz(fuzz_world, operation.as_strategy(GenerationMode.NEGATIVE), _negative(examples))
                except Unsatisfiable:  # nothing the schema forbids survives the wire (e.g. `GET /t/{code}.json`)
                    pass


def _has_inputs(operation) -> bool:
    return bool(list(operation.iter_parameters())) or bool(operation.body)


def test_stateful_sequences_keep_their_schema_and_tenant_isolation(api_schema, fuzz_world):
    world = fuzz_world

    # Once-only steps (split a lot, record its chain or a step's photos, merge lots, remove a certificate) answer 201 the first time and 409 afterwards, on a server
    # whose state outlives each generated sequence: Hypothesis sees the same sequence branch differently when it
    # replays it ("Inconsistent data generation"). They stay in the per-operation fuzz above and in
    # tests/api/test_lot_chain.py; the sequences skip them.
    machine_schema = api_schema.exclude(
        path_regex=r"^/api/v1/lots/(\{lot_id\}/(split|events(/\{event_id\}/photos)?)|merge)$", method="POST"
    ).exclude(path_regex=r"^/api/v1/certifications/\{cert_id\}$", method="DELETE")

    class Machine(machine_schema.as_state_machine()):
        def before_call(self, case):
            world.sign_in(case)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            _validate(world, case, response)

    # no shrinking: replaying a failing sequence against a server whose state has moved on reports "flaky
    # generation" instead of the failure itself; the failing sequence is printed as found
    run = {"max_examples": 30, "stateful_step_count": 8, "phases": [Phase.explicit, Phase.generate]}
    try:
        Machine.run(settings=_settings(**run))
    except FlakyStrategyDefinition as exc:
        # Not a failed check: Hypothesis saw one sequence prefix branch two ways, because the server's answers depend
        # on state and on today's date that the fixed seed does not fix (a step allowed yesterday, refused today, so
        # a bundle stays empty). Explore once more from a fresh random seed; a second occurrence fails the test.
        print(f"\nstateful fuzz: {type(exc).__name__} with the fixed seed; running again from a random one")
        Machine.run(settings=settings(_settings(**run), derandomize=False))


def test_what_the_fuzzer_cannot_judge_is_refused(fuzz_world):
    """Found around the fuzzer. It cannot send a naive datetime (schemathesis writes every date-time with its offset):
    one reached the database layer, which refuses it (500); so did years whose UTC or local-day arithmetic leaves
    Python's range. It cannot see the worker: rule params of the wrong type or size were stored (201) and then broke
    every evaluation of the cooperative's rules (``float("abc")``), or the sweeper's for everyone (a silence rule), or
    looped for ``days``. A form's "nan"/"inf" was stored as a quantity."""
    client, a = TestClient(fuzz_world.app, raise_server_exceptions=False), fuzz_world.a
    admin, ml = a.auth(Role.coop_admin), a.auth(Role.ml_engineer)
    naive, ancient = "2026-11-20T08:00:00", "0001-01-01T00:00:00+00:01"
    for when in (naive, ancient):
        for r in (
            client.get("/api/v1/diary", headers=admin, params={"since": when}),
            client.get("/api/v1/captures", headers=admin, params={"until": when}),
            client.post(
                "/api/v1/diary", headers=admin, data={"plot_id": a.plot_id, "type": "harvest", "occurred_at": when}
            ),
            client.post("/api/v1/datasets", headers=ml, json={"name": "fuzz-b", "since": when}),
            client.post(
                "/api/v1/ingest/slots",
                headers=a.camera_auth,
                json={"sha256": "0" * 64, "size": 10, "captured_at": when},
            ),
        ):
            assert r.status_code == 422, (r.request.method, r.request.url, r.status_code, r.text[:200])
    for day in ("0001-01-01", "9999-12-31"):
        r = client.post("/api/v1/lots", headers=admin, json={"plot_id": a.plot_id, "harvested_on": day, "quantity": 1})
        assert r.status_code == 422, r.text
        r = client.get(
            "/api/v1/diary/export",
            headers=admin,
            params={"plot_id": a.plot_id, "since": day, "until": day, "format": "csv"},
        )
        assert r.status_code == 422, r.text
    for kind, params in (
        ("trend", {"rise_pct": "abc"}),
        ("silence", {"hours": 1e12}),
        ("silence", {"hours": -1}),
        ("harvest_window", {"days": 10**9}),
        ("harvest_window", {"share": "x"}),
    ):
        r = client.post(
            "/api/v1/alert-rules",
            headers=admin,
            json={"class_name": "planthopper", "threshold": 1, "kind": kind, "params": params},
        )
        assert r.status_code == 422, (kind, params, r.text)
    rule = client.post(
        "/api/v1/alert-rules",
        headers=admin,
        json={"class_name": "planthopper", "threshold": 1, "kind": "trend", "params": {"rise_pct": 40}},
    ).json()
    r = client.patch(f"/api/v1/alert-rules/{rule['id']}", headers=admin, json={"params": {"rise_pct": [1]}})
    assert r.status_code == 422, r.text
    r = client.patch(f"/api/v1/alert-rules/{rule['id']}", headers=admin, json={"threshold": None, "enabled": None})
    assert r.status_code == 200 and r.json()["threshold"] == 1 and r.json()["enabled"] is True, r.text
    for value in ("nan", "inf"):
        r = client.post(
            "/api/v1/diary", headers=admin, data={"plot_id": a.plot_id, "type": "fertilizing", "quantity_value": value}
        )
        assert r.status_code == 422, r.text
