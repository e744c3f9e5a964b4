"""`cropwatch` command line: api, worker, beat, migrate, seed-demo, register-models, up (all-in-one)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cropwatch.core.settings import get_settings

app = typer.Typer(help="CropWatch: crop and pest monitoring for cooperatives.", no_args_is_help=True)
console = Console()


#: libraries whose INFO lines drown the service's own log (httpx would also print presigned URLs)
QUIET_LOGGERS = ("alembic", "httpx", "httpcore", "urllib3")


def _logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # retries are reported by our code


@app.command()
def migrate() -> None:
    """Apply database migrations (SQLite or PostgreSQL, from CROPWATCH_DATABASE_URL)."""
    from cropwatch.core.migrate import upgrade

    upgrade(get_settings().db_url)
    console.print("[green]database is up to date[/]")


@app.command()
def api(host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    """Serve the HTTP API with uvicorn."""
    from cropwatch.core.metrics_dir import enable_multiprocess

    s = get_settings()
    enable_multiprocess(s.data_dir, "api")  # before prometheus_client is imported: every uvicorn worker counts
    import uvicorn

    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or s.api_host,
        port=port or s.api_port,
        workers=workers,
        log_level="info",
        **uvicorn_proxy_options(s),
    )


def uvicorn_proxy_options(s) -> dict:
    """X-Forwarded-For is believed only from the proxies the operator names (uvicorn trusts 127.0.0.1 by default,
    which let anyone on the same host pick the address the sign-in limit counts)."""
    return {"proxy_headers": bool(s.forwarded_allow_ips), "forwarded_allow_ips": s.forwarded_allow_ips or None}


@app.command()
def worker(
    queues: str = "inference,maintenance",
    concurrency: int = 1,
    loglevel: str = "INFO",
    metrics_port: int = typer.Option(0, help="serve this worker's Prometheus metrics on this port (0: none)"),
    metrics_host: str = typer.Option("127.0.0.1", help="address for --metrics-port (0.0.0.0: every interface)"),
) -> None:
    """Run a Celery worker (one process per concurrency slot; each runs onnxruntime with onnx_threads)."""
    from cropwatch.core.metrics_dir import enable_multiprocess

    folder = enable_multiprocess(get_settings().data_dir, "worker")  # before prometheus_client is imported
    if metrics_port:
        from prometheus_client import start_http_server

        from cropwatch.core.metrics import serving_registry

        start_http_server(metrics_port, addr=metrics_host, registry=serving_registry(folder))
    from cropwatch.core.queue import app as celery_app

    celery_app.worker_main(
        [
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "--loglevel",
            loglevel,
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"worker-{os.getpid()}@%h",
        ]
    )


@app.command()
def beat(loglevel: str = "INFO") -> None:
    """Run Celery beat (the periodic sweeper of stuck captures)."""
    from cropwatch.core.queue import app as celery_app

    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    celery_app.start(["beat", "--loglevel", loglevel, "-s", str(s.data_dir / "celerybeat-schedule")])


@app.command("register-models")
def register_models() -> None:
    """Register the shipped models (models/<task>/*.onnx) in the registry and object storage."""
    from cropwatch.core.db import session_scope
    from cropwatch.core.storage import Storage
    from models import registry

    s = get_settings()
    storage = Storage(s)
    storage.ensure_bucket()
    with session_scope(s.db_url) as session:
        for mv in registry.bootstrap(session, storage):
            console.print(f"{mv.task.value}: {mv.name} ({mv.sha256[:12]}) stage={mv.stage.value}")


@app.command("platform-ml")
def platform_ml(
    username: str = typer.Argument(..., help="an existing user"),
    off: bool = typer.Option(False, "--off", help="take the right away"),
) -> None:
    """Give USERNAME (an ML engineer) the installation-level right to change the shared models that every
    cooperative falls back on. Operators only: no cooperative or union role can grant it."""
    from sqlalchemy import select

    from cropwatch.core.db import session_scope
    from cropwatch.core.orm import User

    with session_scope(get_settings().db_url) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            console.print(f"[red]no user {username!r}[/]")
            raise typer.Exit(1)
        user.platform_ml = not off
        console.print(f"{username}: platform ML {'off' if off else 'on'}")


@app.command("golden-seed")
def golden_seed(
    recipe: str = typer.Argument(..., help="the shipped model whose source to seed from: pest | pest-field | …"),
    family: str = typer.Option("", help="model family (default: the recipe's, e.g. pest-rice)"),
    split: str = typer.Option("test", help="the source split to take (never the training one)"),
    limit: int = typer.Option(0, help="at most this many images (0: all)"),
) -> None:
    """Seed a family's golden set from the test split of its shipped model's source dataset (shared/datasets)."""
    from cropwatch.core.db import session_scope
    from cropwatch.core.enums import ModelTask
    from cropwatch.core.storage import Storage
    from datasets import golden
    from datasets.splits import hash_fraction
    from datasets.versions import import_yolo_folder
    from training.recipes import RECIPES

    s = get_settings()
    if recipe not in RECIPES:
        console.print(f"[red]unknown recipe {recipe}; choose from {', '.join(RECIPES)}[/]")
        raise typer.Exit(1)
    rec = RECIPES[recipe]
    family = family or rec.family or recipe
    if rec.source is None:
        console.print(f"[red]{recipe} has no source dataset[/]")
        raise typer.Exit(1)
    src = s.shared_datasets_dir / rec.source
    keep = None
    if split == "test" and not (src / "images" / "test").is_dir() and rec.test_fraction:
        # a source without a test split: the share the recipe carves out as its test split (never trained on)
        split = "train"

        def keep(image: Path) -> bool:
            return hash_fraction(image.name, "test:") < rec.test_fraction

    storage = Storage(s)
    storage.ensure_bucket()
    items, _ = import_yolo_folder(
        storage, src, name=f"golden-{family}", names=rec.names, splits=(split,), limit=limit or None, keep=keep
    )
    for it in items:
        it.source = f"seed:{rec.source}/{split}" + (f" (carved test share {rec.test_fraction})" if keep else "")
    with session_scope(s.db_url) as session:
        n = golden.add(session, task=ModelTask(rec.task), family=family, items=items)
    console.print(f"{family}: {n} golden images added from {rec.source}/{split}")


@app.command("dataset-import")
def dataset_import(
    folder: Path = typer.Argument(..., help="a YOLO folder (images/<split>, labels/<split>)"),
    name: str = typer.Option(..., help="dataset name, e.g. rice-pests"),
    task: str = typer.Option("pest", help="pest | ripeness"),
    names_from: Path | None = typer.Option(
        None, help="data.yaml naming the folder's classes (default: the production model's classes)"
    ),
    family: str | None = typer.Option(None, help="whose classes: pest-rice, pest-field, … (default: the task's first)"),
) -> None:
    """Upload a labelled YOLO folder (boxes or polygons) and freeze it as the next version of a shared dataset."""
    from cropwatch.core.db import session_scope
    from cropwatch.core.enums import ModelTask
    from cropwatch.core.storage import Storage
    from datasets.versions import create_version, import_yolo_folder
    from datasets.yolo import read_names
    from models import registry

    s = get_settings()
    storage = Storage(s)
    storage.ensure_bucket()
    with session_scope(s.db_url) as session:
        prod = registry.production(session, ModelTask(task), **({"family": family} if family else {}))
        if prod is None:
            raise typer.BadParameter(
                f"no production {task} model{f' of {family}' if family else ''}: run cropwatch register-models first"
            )
        classes = {int(k): v for k, v in prod.classes.items()}
        names = read_names(names_from) if names_from else classes
        items, stats = import_yolo_folder(storage, folder, name=name, names=names)
        dv = create_version(
            session,
            storage,
            name=name,
            task=ModelTask(task),
            classes=classes,
            items=items,
            filters={"import": str(folder)},
        )
        console.print(f"[green]{name} v{dv.version}[/] (id {dv.id}): {json.dumps(dv.stats, ensure_ascii=False)}")


@app.command("dataset-build")
def dataset_build(
    cooperative: str = typer.Option(..., help="cooperative code"),
    name: str = typer.Option(...),
    task: str = typer.Option("pest"),
    family: str | None = typer.Option(None, help="whose classes: pest-rice, pest-field, … (default: the task's first)"),
) -> None:
    """Freeze a cooperative's reviewed captures as the next version of dataset NAME."""
    from sqlalchemy import select

    from cropwatch.core.db import session_scope
    from cropwatch.core.enums import ModelTask
    from cropwatch.core.orm import Cooperative
    from cropwatch.core.storage import Storage
    from datasets.versions import create_version, verified_captures
    from models import registry

    s = get_settings()
    storage = Storage(s)
    with session_scope(s.db_url) as session:
        coop = session.scalar(select(Cooperative).where(Cooperative.code == cooperative))
        if coop is None:
            raise typer.BadParameter(f"no cooperative {cooperative!r}")
        prod = registry.production(session, ModelTask(task), coop.id, **({"family": family} if family else {}))
        if prod is None:
            raise typer.BadParameter(f"no production {task} model{f' of {family}' if family else ''}")
        dv = create_version(
            session,
            storage,
            name=name,
            task=ModelTask(task),
            classes={int(k): v for k, v in prod.classes.items()},
            items=verified_captures(session, cooperative_id=coop.id),
            cooperative_id=coop.id,
        )
        console.print(f"[green]{name} v{dv.version}[/] (id {dv.id}): {json.dumps(dv.stats, ensure_ascii=False)}")


@app.command()
def train(
    dataset: int = typer.Option(..., help="dataset version id"),
    epochs: int = 30,
    imgsz: int = 320,
    batch: int = 16,
    seed: int = 0,
    base: int | None = typer.Option(None, help="fine-tune from this model version's weights"),
    promote: bool = typer.Option(False, help="promote the candidate if it passes the gate"),
) -> None:
    """Train a candidate model from a dataset version here and now (offline), with progress; registers it."""
    from rich.progress import Progress

    from cropwatch.core.db import session_factory
    from cropwatch.core.orm import DatasetVersion, ModelVersion
    from cropwatch.core.storage import Storage
    from models import registry
    from training import jobs

    s = get_settings()
    sessions = session_factory(s.db_url)
    storage = Storage(s)
    with sessions.begin() as session:
        dv = session.get(DatasetVersion, dataset)
        if dv is None:
            raise typer.BadParameter(f"no dataset version {dataset}")
        run = jobs.create_run(
            session,
            dataset=dv,
            created_by=None,
            cooperative_id=dv.cooperative_id,
            base=session.get(ModelVersion, base) if base else None,
            params={"epochs": epochs, "imgsz": imgsz, "batch": batch, "seed": seed},
        )
        run_id = run.id
    with Progress(console=console) as progress:
        bar = progress.add_task(f"training run {run_id}", total=1.0)

        def echo(line: str) -> None:
            progress.console.print(line)
            with sessions() as session:
                from cropwatch.core.orm import TrainingRun

                progress.update(bar, completed=session.get(TrainingRun, run_id).progress)

        result = jobs.execute(run_id, sessions=sessions, storage=storage, settings=s, echo=echo)
    if result.status != "done":
        console.print(f"[red]run {run_id} failed:[/] {result.error}")
        raise typer.Exit(1)
    console.print(f"[green]candidate model version {result.model_version_id}[/]: {json.dumps(result.metrics)[:300]}")
    if promote:
        with sessions.begin() as session:
            try:
                registry.promote_gated(
                    session,
                    session.get(ModelVersion, result.model_version_id),
                    by=None,
                    tolerance=s.promotion_tolerance,
                )
                console.print("[green]promoted to production[/]")
            except registry.GateRefused as exc:
                console.print(f"[yellow]not promoted:[/] {exc}")


@app.command()
def retention(
    cooperative: str | None = typer.Option(None, help="a cooperative's code (default: every cooperative)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print what the policy would free, remove nothing"),
) -> None:
    """Apply the photo retention policies now (beat runs them nightly): photos nothing refers to, older than the
    cooperative's days, are removed; the evidence stays."""
    from sqlalchemy import select

    from cropwatch.captures import retention as policy
    from cropwatch.core.db import session_factory
    from cropwatch.core.orm import Cooperative
    from cropwatch.core.storage import Storage

    _logging()
    settings = get_settings()
    sessions = session_factory(settings.db_url)
    with sessions() as s:
        q = select(Cooperative.id, Cooperative.code, Cooperative.photo_retention_days).order_by(Cooperative.id)
        coops = s.execute(q.where(Cooperative.code == cooperative) if cooperative else q).all()
        if cooperative and not coops:
            raise typer.BadParameter(f"no cooperative with code {cooperative!r}")
        if dry_run:
            for coop_id, code, days in coops:
                rows = policy.usage(s, coop_id)
                n, b = sum(r.to_free_photos for r in rows), sum(r.to_free_bytes for r in rows)
                typer.echo(
                    f"{code}: keep {days if days is not None else 'every'} days; would remove {n} photos, {b} bytes"
                )
            return
    for coop_id, code, _ in coops:
        out = policy.apply_policy(sessions, Storage(settings), cooperative_id=coop_id)
        typer.echo(
            f"{code}: removed {out.removed} photos, {out.freed_bytes} bytes ({out.errors} left for the next run)"
        )


@app.command("seed-demo")
def seed_demo_cmd() -> None:
    """Create the demo cooperative, its users, plots, cameras and alert rules (idempotent)."""
    _seed_and_print()


def _seed_and_print() -> list:
    from cropwatch.core.db import session_scope
    from cropwatch.seed import DEMO_PASSWORD, DEMO_USERS, seed_demo

    s = get_settings()
    with session_scope(s.db_url) as session:
        cams = seed_demo(session, s.data_dir / "demo" / "cameras.json")
    table = Table(title="Demo logins / Tài khoản demo (password / mật khẩu: " + DEMO_PASSWORD + ")")
    table.add_column("username")
    table.add_column("name")
    table.add_column("role")
    for username, name, role in DEMO_USERS:
        table.add_row(username, name, role.value)
    console.print(table)
    return cams


def _demo_images(cam, folder: Path) -> Path:
    """Copy real photos into the camera's folder, once, from what its model is for: the rice-pest test photos, the
    carved test share of field-pests-15 (never trained on) for the vegetable camera, the glue-board test cards for the
    sticky trap, the real tomato test photos
    (Laboro Tomato, CC BY-NC-SA 4.0: a demonstration is non-commercial use) for fruit cameras."""
    from datasets.splits import hash_fraction
    from training.recipes import PEST_FIELD

    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        return folder
    s = get_settings()
    kind = cam.photos or ("tomato" if cam.kind == "fruit" else "rice-pests")
    if kind == "tomato":
        src = s.shared_datasets_dir / "tomato-ripeness-laboro" / "images" / "test"
        photos = sorted(src.glob("*.jpg"))[:24]
    elif kind == "sticky-trap":
        return _demo_trap_cards(s.shared_datasets_dir / "sticky-trap-aiinsect", folder)
    elif kind == "field-pests":
        src = s.shared_datasets_dir / PEST_FIELD.source / "images" / "train"
        test = [p for p in sorted(src.glob("*.jpg")) if hash_fraction(p.name, "test:") < PEST_FIELD.test_fraction]
        photos = test[::8]  # about 50 of its 399 test photos, every class
    else:
        src = s.shared_datasets_dir / "rice-pests" / "images" / "test"
        photos = sorted(src.glob("*.jpg"))[cam.camera_id % 2 :: 2]
    if not photos:
        raise typer.BadParameter(f"no demo photos found in {src} (set CROPWATCH_SHARED_DATASETS_DIR)")
    for p in photos:
        shutil.copy2(p, folder / p.name)
    return folder


def _demo_trap_cards(source: Path, folder: Path) -> Path:
    """The demo trap's cards, one per day (``camera_agents.simulator --card-per-day``): the glue-board test cards
    in the order of their labelled insects, so a card holds more than the day before, as one card filling up would;
    from the first with at least the trap rule's warning level (a new card on a demo's first day is then a
    warning, not an empty board), and after the fullest the sparsest again (a fall: a replaced card)."""
    from cropwatch.seed import TRAP_CARD_THRESHOLDS

    def insects(photo: Path) -> int:
        label = source / "labels" / "test" / f"{photo.stem}.txt"
        return sum(1 for line in label.read_text().splitlines() if line.strip()) if label.exists() else 0

    cards = sorted(((insects(p), p) for p in (source / "images" / "test").glob("*.jpg")), key=lambda c: (c[0], c[1]))
    cards = [(n, p) for n, p in cards if n >= TRAP_CARD_THRESHOLDS[0]]
    if not cards:
        raise typer.BadParameter(f"no labelled glue-board cards found in {source} (set CROPWATCH_SHARED_DATASETS_DIR)")
    for rank, (_, p) in enumerate(cards):
        shutil.copy2(p, folder / f"{rank:02d}-{p.name}")
    return folder


@app.command()
def up(
    cameras: bool = typer.Option(True, help="start simulated cameras"),
    workers: int = typer.Option(1, help="Celery worker processes"),
    camera_interval: float = typer.Option(5.0, help="seconds between uploads per simulated camera"),
) -> None:
    """Everything on one machine: embedded SeaweedFS and Redis, SQLite, API, worker, beat, demo cameras."""
    from cropwatch.embedded import EmbeddedRedis, EmbeddedS3

    _logging()
    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    servers = []
    children: list[tuple[str, subprocess.Popen]] = []

    def shutdown(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    # children get their own session: Ctrl-C reaches only this process, which then stops them in order
    # (cameras first, then API and worker, then the servers), so nothing dies half-way through a task.
    try:
        if s.embedded_s3:
            port = int(s.s3_endpoint.rsplit(":", 1)[1])
            s3 = EmbeddedS3(s.data_dir / "s3", s3_port=port, access_key=s.s3_access_key, secret_key=s.s3_secret_key)
            s3.own_session = True
            s3.start()
            servers.append(s3)
            console.print(f"[green]SeaweedFS S3[/] on {s3.endpoint}")
        if s.embedded_redis and not s.broker_url:
            redis = EmbeddedRedis(s.data_dir / "redis")
            redis.own_session = True
            redis.start()
            servers.append(redis)
            env["CROPWATCH_BROKER_URL"] = redis.url
            console.print(f"[green]Redis[/] on {redis.socket_path}")
        migrate()
        register_models()
        cams = _seed_and_print()
        py = sys.executable
        specs = [
            ("api", [py, "-m", "cropwatch.cli", "api"]),
            ("worker", [py, "-m", "cropwatch.cli", "worker", "--concurrency", str(workers)]),
            # training jobs get a worker of their own, so a run never holds up detection
            ("training-worker", [py, "-m", "cropwatch.cli", "worker", "--queues", "training", "--concurrency", "1"]),
            ("beat", [py, "-m", "cropwatch.cli", "beat"]),
        ]
        for name, cmd in specs:
            children.append((name, subprocess.Popen(cmd, env=env, start_new_session=True)))
        _wait_http(f"http://{s.api_host}:{s.api_port}/health", 60)
        console.print(
            f"[bold green]CropWatch is up:[/] http://{s.api_host}:{s.api_port}/  (web; sign in with a demo "
            "login above — API docs: /docs)"
        )
        if cameras:
            for cam in cams:
                folder = _demo_images(cam, s.data_dir / "demo" / f"camera-{cam.camera_id}")
                cmd = [
                    py,
                    "-m",
                    "camera_agents.simulator",
                    "--api",
                    f"http://{s.api_host}:{s.api_port}",
                    "--folder",
                    str(folder),
                    "--interval",
                    str(camera_interval),
                    "--seed",
                    str(cam.camera_id),
                    "--state",
                    str(folder.parent / f"camera-{cam.camera_id}.sent"),
                ]
                if cam.kind == "sticky_trap":
                    cmd.append("--card-per-day")
                # the token goes by environment: a command line is readable by every user in ps
                children.append(
                    (
                        f"camera-{cam.camera_id}",
                        subprocess.Popen(cmd, env={**env, "CROPWATCH_CAMERA_TOKEN": cam.token}, start_new_session=True),
                    )
                )
            console.print(f"{len(cams)} simulated cameras uploading every {camera_interval:.0f}s")
        while True:
            for name, proc in children:
                if proc.poll() is not None and not name.startswith("camera"):
                    raise RuntimeError(f"{name} exited with code {proc.returncode}")
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        for _, proc in reversed(children):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in reversed(children):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in reversed(servers):
            server.stop()
        console.print("stopped; data kept in " + str(s.data_dir))


def _wait_http(url: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


if __name__ == "__main__":
    app()
