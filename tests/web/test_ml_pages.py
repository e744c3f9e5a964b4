"""The ML engineer's pages in a browser: the model registry (versions side by side, confusion matrix, promote
through the gate, refused then overridden with a written reason, roll back), dataset versions frozen from reviewed
captures with their mosaic, a training run started from a form whose log follows the run by HTMX polling; and who
may see or do what."""

from __future__ import annotations

import datetime as dt
import io
import time

import httpx
from factories import make_tenant
from helpers import SHARED
from sqlalchemy import select

from cropwatch.core.enums import ModelStage, ModelTask, Role
from cropwatch.core.orm import DatasetVersion, ModelVersion, Review, TrainingRun
from cropwatch.core.timeutil import utcnow
from models import registry

from .browsing import DESKTOP, SCREENSHOTS, screenshot, upload

PHOTOS = [
    next((SHARED / "rice-pests" / "images" / "test").glob(f"{stem}_jpg*.jpg"))
    for stem in ("brown_0267", "brown_0252", "brown_0264")
]


def confusion_png(names: list[str]) -> bytes:
    """A normalized confusion matrix picture like the one a training run stores (matplotlib, offline)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n = len(names) + 1
    rng = np.random.default_rng(0)
    m = rng.random((n, n)) * 0.15 + np.eye(n) * 0.7
    m = m / m.sum(axis=0, keepdims=True)
    fig, ax = plt.subplots(figsize=(6, 5), dpi=80)
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    labels = [*names, "background"]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("True")
    ax.set_ylabel("Predicted")
    ax.set_title("Confusion Matrix Normalized")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _candidates(s, storage, prod_id: int, cooperative_id: int) -> tuple[int, int]:
    """A candidate that passes the gate (a registered copy of the shipped model: its INT8 file, with the metrics and
    confusion matrix a training run records) and one that does not; both belong to the cooperative, as versions
    a training run of its data registers do."""
    prod = s.get(ModelVersion, prod_id)
    int8 = registry.variant_path(registry.SHIPPED_DIR / "pest" / "pest-rice-yolo11n.onnx", "int8")
    good = registry.register(
        s, storage, int8, task=ModelTask.pest, name="rice-htx-a-run7", cooperative_id=cooperative_id
    )
    key = "models/pest/reports/run-7/confusion_matrix.png"
    storage.put_bytes(key, confusion_png(list(prod.classes.values())), "image/png")
    base = prod.metrics["map50"]
    per_class = {
        k: {**v, "map50": round(min(1.0, v["map50"] * 1.15 + 0.02), 4)} for k, v in prod.metrics["per_class"].items()
    }
    good.metrics = {
        **prod.metrics,
        "map50": round(base + 0.03, 4),
        "per_class": per_class,
        "baseline": {"model_version_id": prod_id, "map50": base},
        "reports": {"confusion_matrix": key},
    }
    worse = ModelVersion(
        cooperative_id=cooperative_id,
        task=ModelTask.pest,
        name="rice-htx-a-run8",
        onnx_key=prod.onnx_key,
        sha256="f" * 64,
        classes=prod.classes,
        classes_vi=prod.classes_vi,
        input_size=prod.input_size,
        stage=ModelStage.candidate,
        metrics={
            "map50": 0.10,
            "map50_95": 0.04,
            "precision": 0.5,
            "recall": 0.1,
            "split": "test",
            "per_class": {k: {**v, "map50": round(v["map50"] / 3, 4)} for k, v in prod.metrics["per_class"].items()},
            "baseline": {"model_version_id": prod_id, "map50": base},
        },
    )
    s.add(worse)
    s.flush()
    return good.id, worse.id


def _review(server_url: str, tenant, capture_ids: list[int]) -> None:
    """An agronomist confirms most of the model's boxes and rejects one per capture (through the API)."""
    auth = tenant.auth(Role.agronomist)
    with httpx.Client(base_url=server_url, timeout=30) as c:
        for cid in capture_ids:
            dets = c.get(f"/api/v1/captures/{cid}", headers=auth).json()["detections"]
            if not dets:  # nothing found: the reviewer says so, a negative example
                r = c.post(f"/api/v1/captures/{cid}/reviews", headers=auth, json={"action": "no_pest"})
                assert r.status_code == 200, r.text
            for i, d in enumerate(dets):
                r = c.post(
                    f"/api/v1/captures/{cid}/reviews",
                    headers=auth,
                    json={"action": "reject" if i == len(dets) - 1 and i else "confirm", "detection_id": d["id"]},
                )
                assert r.status_code == 200, r.text


def _stage(sessions, model_id: int) -> ModelStage:
    with sessions() as s:
        return s.get(ModelVersion, model_id).stage


def test_ml_engineer_promotes_freezes_a_dataset_and_follows_a_run(
    live_server, open_page, sessions, storage, models_registered
):
    prod_id = models_registered["pest"]
    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
        good_id, worse_id = _candidates(s, storage, prod_id, tenant.cooperative_id)
    captures = [upload(live_server.url, tenant.camera_token, p.read_bytes())["id"] for p in PHOTOS]
    live_server.wait_processed(len(captures))
    _review(live_server.url, tenant, captures)
    with sessions.begin() as s:  # spread the reviews over past weeks, for the agreement chart
        reviews = s.scalars(
            select(Review).where(Review.cooperative_id == tenant.cooperative_id).order_by(Review.id)
        ).all()
        for i, r in enumerate(reviews):
            r.created_at = utcnow() - dt.timedelta(weeks=(len(reviews) - 1 - i) % 4)

    page = open_page("a-ml_engineer", "pw-a", DESKTOP)
    assert page.url.endswith("/ml/models")
    good = page.locator(f"#model-{good_id}")
    assert good.get_attribute("data-stage") == "candidate"
    assert page.locator(f"#model-{prod_id}").get_attribute("data-stage") == "production"
    # versions side by side: one column per version, a row per class
    table = page.locator("table.ml-compare[data-task=pest]")
    assert table.locator("thead th").count() == 1 + 3
    assert table.locator("tr[data-class=planthopper] td").count() == 3
    # the confusion matrix comes through the page route (never a link to S3) and really loads
    img = good.locator("figure.ml-report img")
    assert img.get_attribute("src") == f"/ml/models/{good_id}/reports/confusion_matrix.png"
    page.wait_for_function(f"() => document.querySelector('#model-{good_id} figure.ml-report img').naturalWidth > 0")
    # charts drawn by the vendored Chart.js
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('ml-agreement'))")
    page.wait_for_function("() => Chart.getChart(document.querySelector('canvas.ml-bars'))")
    assert page.locator("#agreement details tbody tr").count() >= 1

    # promote the candidate that passes the gate; the confirmation dialog is accepted
    dialogs = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    good.get_by_role("button", name="Đưa vào sử dụng").click()
    page.wait_for_url("**/ml/models?done=promoted*")
    assert dialogs and "rice-htx-a-run7" in dialogs[0]
    assert page.locator(f"#model-{good_id}").get_attribute("data-stage") == "production"
    # the shared model keeps serving the other cooperatives: A's own version serves A's cameras only
    assert page.locator(f"#model-{prod_id}").get_attribute("data-stage") == "production"
    assert "rice-htx-a-run7" in page.locator("#done").inner_text()
    assert page.locator("#task-pest h2").inner_text().count(f"#{good_id}") == 1
    with sessions() as s:
        assert registry.production(s, ModelTask.pest, tenant.cooperative_id).id == good_id
        assert registry.production(s, ModelTask.pest).id == prod_id
        assert s.get(ModelVersion, good_id).history[-1]["gate"] == "passed"
    screenshot(page, "ml-models")
    # the tomato model's non-commercial licence is on its card
    licence = page.locator(".ml-licence", has_text="CC BY-NC-SA 4.0")
    assert licence.count() >= 1 and "phi thương mại" in licence.first.inner_text()

    # the worse candidate is refused by the gate: the reason is shown and a written override is asked for
    worse = page.locator(f"#model-{worse_id}")
    assert "danger" in worse.locator(".ml-gate").get_attribute("class")  # the card warns before trying
    page.once("dialog", lambda d: d.accept())
    worse.get_by_role("button", name="Đưa vào sử dụng").click()
    override = page.locator(f"#override-{worse_id}")
    override.wait_for()
    assert "0.100" in override.locator(".flash.error").inner_text()
    assert _stage(sessions, worse_id) == ModelStage.candidate
    override.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "ml-models-gate-refused.png"))
    override.get_by_label("Lý do vượt ngưỡng").fill("thử thực địa ở lô A2: bắt rầy nâu tốt hơn")
    page.once("dialog", lambda d: d.accept())
    override.get_by_role("button", name="Vẫn đưa vào sử dụng").click()
    page.wait_for_url("**/ml/models?done=promoted*")
    assert page.locator(f"#model-{worse_id}").get_attribute("data-stage") == "production"
    with sessions() as s:
        mv = s.get(ModelVersion, worse_id)
        assert mv.stage == ModelStage.production
        assert (mv.history[-1]["gate"], mv.history[-1]["reason"]) == (
            "overridden",
            "thử thực địa ở lô A2: bắt rầy nâu tốt hơn",
        )

    # roll back to the version that served before
    page.once("dialog", lambda d: d.accept())
    back = page.locator(f"#model-{good_id}")
    back.get_by_label("Lý do quay lại").fill("bỏ sót rầy nâu")
    back.get_by_role("button", name="Quay lại phiên bản này").click()
    page.wait_for_url("**/ml/models?done=rolled_back*")
    assert page.locator(f"#model-{good_id}").get_attribute("data-stage") == "production"
    assert _stage(sessions, good_id) == ModelStage.production and _stage(sessions, worse_id) == ModelStage.archived

    # shadow mode on and off for the retired version
    page.once("dialog", lambda d: d.accept())
    page.locator(f"#model-{worse_id}").get_by_role("button", name="Chạy thử song song").click()
    page.wait_for_url("**/ml/models?done=shadow_started*")
    shadow = page.locator(f"#model-{worse_id}")
    assert shadow.get_attribute("data-stage") == "shadow" and shadow.locator(".ml-shadow").count() == 1
    assert _stage(sessions, worse_id) == ModelStage.shadow
    page.once("dialog", lambda d: d.accept())
    shadow.get_by_role("button", name="Dừng chạy thử").click()
    page.wait_for_url("**/ml/models?done=shadow_stopped*")
    assert _stage(sessions, worse_id) == ModelStage.candidate

    # a dataset version frozen from the reviewed captures, with class counts and the mosaic
    page.goto("/ml/datasets")
    page.get_by_label("Tên bộ dữ liệu").fill("rice-htx-a")
    page.get_by_role("button", name="Tạo phiên bản").click()
    page.wait_for_url("**/ml/datasets/*?created=1")
    assert page.locator(".flash.ok").count() == 1
    counts = page.locator("#class-counts tr[data-class=planthopper] td").nth(2)
    assert int(counts.inner_text()) >= 1
    page.wait_for_function("() => document.querySelector('.ml-mosaic img').naturalWidth == 480")
    screenshot(page, "ml-dataset-detail")
    with sessions() as s:
        dv = s.scalars(select(DatasetVersion).where(DatasetVersion.cooperative_id == tenant.cooperative_id)).one()
        assert sum(dv.stats["images"].values()) == len(captures)
    page.goto("/ml/datasets")
    assert page.locator(f"#datasets tr[data-dataset='{dv.id}']").count() == 1
    page.locator("#new summary").click()  # the freeze form, shown in the screenshot
    screenshot(page, "ml-datasets")

    with sessions.begin() as s:  # an earlier run that failed, as the training worker records it
        s.add(
            TrainingRun(
                cooperative_id=tenant.cooperative_id,
                dataset_version_id=dv.id,
                status="failed",
                params={"epochs": 30, "imgsz": 320, "batch": 16},
                progress=0.02,
                created_at=utcnow() - dt.timedelta(days=1),
                finished_at=utcnow() - dt.timedelta(days=1),
                log="[09:00:00] failed: no space left on device\n",
                error="OSError: no space left on device",
            )
        )

    # a training run started from the form; its page polls the live part while it is queued or running
    page.goto(f"/ml/datasets/{dv.id}")
    page.get_by_role("link", name="Huấn luyện trên bộ này").click()
    page.wait_for_url("**/ml/runs?dataset=*")
    assert page.get_by_label("Bộ dữ liệu").input_value() == str(dv.id)
    page.get_by_label("Số epoch").fill("5")
    page.get_by_role("button", name="Bắt đầu huấn luyện").click()
    page.wait_for_url("**/ml/runs/*")
    run_id = int(page.url.rsplit("/", 1)[1])
    live = page.locator("#run-live")
    assert live.get_attribute("data-status") == "queued" and live.get_attribute("hx-trigger") == "every 2s"
    polls = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith(f"/ml/runs/{run_id}/live") else None)
    with sessions.begin() as s:  # what the training worker writes as it goes
        run = s.get(TrainingRun, run_id)
        assert run.params["epochs"] == 5 and run.cooperative_id == tenant.cooperative_id
        run.status, run.started_at, run.progress = "running", utcnow(), 0.5
        run.log = "".join(f"[10:0{e}:00] epoch {e}/5: val mAP50 {0.05 * e:.3f}\n" for e in range(1, 4))
    page.wait_for_selector("#run-live[data-status=running]", timeout=10_000)
    assert "epoch 3/5" in page.locator("#run-log").inner_text()
    page.wait_for_function("() => Chart.getChart(document.getElementById('ml-run-curve-chart'))")
    with sessions.begin() as s:
        run = s.get(TrainingRun, run_id)
        metrics = dict(s.get(ModelVersion, good_id).metrics)
        run.log += "".join(f"[10:0{e}:00] epoch {e}/5: val mAP50 {0.05 * e:.3f}\n" for e in range(4, 6))
        run.log += f"[10:06:00] registered candidate model version {good_id}\n"
        run.status, run.progress, run.finished_at = "done", 1.0, utcnow()
        run.metrics, run.model_version_id = metrics, good_id
    page.wait_for_selector("#run-live[data-status=done]", timeout=10_000)
    assert page.locator("#run-live").get_attribute("hx-trigger") is None
    assert "registered candidate" in page.locator("#run-log").inner_text()
    page.wait_for_function("() => document.querySelector('.ml-reports img').naturalWidth > 0")
    seen = len(polls)
    time.sleep(2.5)
    assert len(polls) == seen, "polling stops once the run is over"
    screenshot(page, "ml-run-detail")

    page.goto("/ml/runs")
    row = page.locator(f"#runs tr[data-run='{run_id}']")
    assert row.locator("[data-status=done]").count() == 1
    assert page.locator("#runs tr[data-run] [data-status=failed]").count() == 1
    page.locator("#new summary").click()
    screenshot(page, "ml-runs")


def test_who_may_see_and_change_the_registry(live_server, open_page, sessions, storage, models_registered):
    prod_id = models_registered["pest"]
    with sessions.begin() as s:
        a = make_tenant(s, "a")
        make_tenant(s, "b")
        good_id, _ = _candidates(s, storage, prod_id, a.cooperative_id)
        own = ModelVersion(
            task=ModelTask.pest,
            name="a-only",
            onnx_key="x",
            sha256="e" * 64,
            classes={"0": "x"},
            input_size=320,
            cooperative_id=a.cooperative_id,
            metrics={"reports": {"confusion_matrix": "models/pest/reports/run-7/confusion_matrix.png"}},
        )
        dv = DatasetVersion(
            cooperative_id=a.cooperative_id,
            name="a-set",
            version=1,
            task=ModelTask.pest,
            manifest_key="datasets/x/manifest.json",
            manifest_sha256="0" * 64,
            classes={"0": "x"},
            stats={"images": {"train": 1}},
            preview_key="models/pest/reports/run-7/confusion_matrix.png",
        )
        s.add_all([own, dv])
        s.flush()
        run = TrainingRun(cooperative_id=a.cooperative_id, dataset_version_id=dv.id, params={}, status="running")
        s.add(run)
        s.flush()
        own_id, dv_id, run_id = own.id, dv.id, run.id

    # an agronomist sees the registry read-only and cannot promote
    page = open_page("a-agronomist", "pw-a", DESKTOP)
    assert page.goto("/ml/models").status == 200
    assert page.locator(f"#model-{good_id}").count() == 1
    assert page.locator("form[action$='/promote']").count() == 0 and page.locator(".ml-note").count() == 1
    csrf = page.locator("body").get_attribute("data-csrf")
    r = page.request.post(f"/ml/models/{good_id}/promote", form={"csrf_token": csrf})
    assert r.status == 403
    assert _stage(sessions, good_id) == ModelStage.candidate
    assert page.request.post("/ml/runs", form={"csrf_token": csrf, "dataset_version_id": str(dv_id)}).status == 403
    # an ML engineer without the CSRF token is refused too
    ml = open_page("a-ml_engineer", "pw-a", DESKTOP)
    assert ml.request.post(f"/ml/models/{good_id}/promote", form={}).status == 403
    assert _stage(sessions, good_id) == ModelStage.candidate

    # a farmer gets the 403 page
    farmer = open_page("a-member", "pw-a", DESKTOP)
    for path in ("/ml/models", "/ml/datasets", "/ml/runs"):
        assert farmer.goto(path).status == 403, path
    assert farmer.locator(".flash.error").count() == 1

    # another cooperative's ML engineer: the shared registry, but not cooperative A's own rows
    other = open_page("b-ml_engineer", "pw-b", DESKTOP)
    assert other.goto("/ml/models").status == 200
    assert other.locator(f"#model-{prod_id}").count() == 1
    assert other.locator(f"#model-{good_id}").count() == 0 and other.locator(f"#model-{own_id}").count() == 0
    for path in (
        f"/ml/models/{own_id}/reports/confusion_matrix.png",
        f"/ml/datasets/{dv_id}",
        f"/ml/datasets/{dv_id}/preview.jpg",
        f"/ml/runs/{run_id}",
        f"/ml/runs/{run_id}/live",
    ):
        assert other.goto(path).status == 404, path
    csrf = other.locator("body").get_attribute("data-csrf")
    assert other.request.post(f"/ml/models/{own_id}/promote", form={"csrf_token": csrf}).status == 404
    assert other.goto("/ml/datasets").status == 200
    assert other.locator(f"tr[data-dataset='{dv_id}']").count() == 0


def test_pages_in_english(live_server, open_page, sessions, models_registered):
    lang = "en"
    with sessions.begin() as s:
        make_tenant(s, "a")
    page = open_page("a-ml_engineer", "pw-a", DESKTOP)
    for path in ("/ml/models", "/ml/datasets", "/ml/runs"):
        assert page.goto(f"{path}?lang={lang}").status == 200
    page.goto(f"/ml/models?lang={lang}")
    assert page.locator("h1").inner_text() == "Models"
    assert page.locator(f"#model-{models_registered['pest']} .badge[data-stage]").inner_text() == "Production"
