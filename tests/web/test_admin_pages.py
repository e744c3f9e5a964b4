"""A cooperative admin manages members (password policy, roles, deactivation that ends sessions), cameras (token
rotation with a confirmation; the old token stops working) and farms/plots; a union admin sees aggregate numbers of
the cooperatives of their union only and downloads them as CSV; roles and other cooperatives' ids are refused."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import hashlib
import io
import uuid

import httpx
from factories import make_tenant
from sqlalchemy import select

from cropwatch.alerts.rules import FRUIT_CLASSES
from cropwatch.core.enums import AlertLevel, CameraKind, CaptureStatus, ReviewState, Role
from cropwatch.core.orm import Alert, ApiToken, Camera, Capture, Cooperative, Detection, Farm, Membership, Plot, User
from cropwatch.core.security import hash_password, token_hash, verify_password
from cropwatch.core.timeutil import LOCAL_TZ, utcnow
from training.recipes import RICE_PESTS_NAMES, RICE_PESTS_NAMES_VI

from .browsing import DESKTOP, PHONE, screenshot

UNION = "lm-dbscl"
UNION_ADMIN, UNION_PW = "lm-quantri", "pw-lien-minh-2025"


def _csrf(page) -> str:
    return page.locator("body").get_attribute("data-csrf")


def _post(page, path: str, **form) -> int:
    """A form post from the signed-in browser context (its cookies, its CSRF token), without following redirects."""
    return page.request.post(path, form={"csrf_token": _csrf(page), **form}, max_redirects=0).status


def _slot_status(server_url: str, camera_token: str) -> int:
    data = uuid.uuid4().bytes * 64
    r = httpx.post(
        f"{server_url}/api/v1/ingest/slots",
        headers={"Authorization": f"Bearer {camera_token}"},
        json={"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "captured_at": utcnow().isoformat()},
        timeout=30,
    )
    return r.status_code


# members, cameras, plots ----------------------------------------------------------------------------------------


def test_admin_manages_members_cameras_and_plots(live_server, open_page, sessions):
    now = utcnow()
    with sessions.begin() as s:
        a = make_tenant(s, "a")
        cam = s.get(Camera, a.camera_id)
        cam.last_seen_at, cam.capture_interval_s = now - dt.timedelta(minutes=3), 600
        s.add(
            Camera(
                cooperative_id=a.cooperative_id,
                plot_id=a.plot_id,
                name="cam bẫy dính",
                kind=CameraKind.sticky_trap,
                token_hash=token_hash("cam_x-" + uuid.uuid4().hex),
                capture_interval_s=900,
                last_seen_at=now - dt.timedelta(hours=5),
            )
        )
        old_hash = cam.token_hash

    page = open_page("a-coop_admin", "pw-a", DESKTOP)
    assert page.url.endswith("/admin/members")
    form = page.locator("#add-member form")

    # the password policy: each weak password is refused with its reason, the form keeps what was typed
    form.get_by_label("Tên đăng nhập").fill("nong-dan-moi")
    form.get_by_label("Họ và tên").fill("Nguyễn Văn Mới")
    form.get_by_label("Số điện thoại").fill("0912 345 678")
    form.get_by_label("Vai trò").select_option("agronomist")
    for weak, reason in (
        ("0912345678", "chỉ gồm chữ số"),
        ("Nong-Dan-Moi", "trùng với tên đăng nhập"),
        ("ngan-qua", "ít nhất 10 ký tự"),
        ("aaaaaaaaaa", "quá dễ đoán"),
        ("password12", "quá dễ đoán"),
    ):
        form.get_by_label("Mật khẩu").fill(weak)
        form.get_by_role("button", name="Thêm thành viên").click()
        page.wait_for_load_state("networkidle")
        assert reason in page.locator(".flash.error").inner_text()
        assert form.get_by_label("Tên đăng nhập").input_value() == "nong-dan-moi"
        assert form.get_by_label("Mật khẩu").input_value() == ""
        with sessions() as s:
            assert s.scalar(select(User).where(User.username == "nong-dan-moi")) is None
    form.get_by_label("Mật khẩu").fill("Lua-xanh-2025")
    form.get_by_role("button", name="Thêm thành viên").click()
    page.wait_for_selector(".flash.ok")
    assert "nong-dan-moi" in page.locator(".flash.ok").inner_text()
    with sessions() as s:
        user = s.scalar(select(User).where(User.username == "nong-dan-moi"))
        assert user.full_name == "Nguyễn Văn Mới" and user.phone == "0912 345 678" and user.is_active
        assert verify_password("Lua-xanh-2025", user.password_hash)
        [m] = user.memberships
        assert (m.cooperative_id, m.role) == (a.cooperative_id, Role.agronomist)
    # a username already taken is refused too
    form.get_by_label("Tên đăng nhập").fill("nong-dan-moi")
    form.get_by_label("Họ và tên").fill("Người khác")
    form.get_by_label("Mật khẩu").fill("Mat-khau-khac-1")
    form.get_by_role("button", name="Thêm thành viên").click()
    page.wait_for_selector(".flash.error")
    assert "đã có người dùng" in page.locator(".flash.error").inner_text()

    # the new member signs in
    member_page = open_page("nong-dan-moi", "Lua-xanh-2025", DESKTOP)
    assert "/login" not in member_page.url

    # change their role
    page.goto("/admin/members")
    row = page.locator("tr[data-username='nong-dan-moi']")
    row.get_by_label("Vai trò").select_option("member")
    row.get_by_role("button", name="Đổi vai trò").click()
    page.wait_for_selector(".flash.ok")
    with sessions() as s:
        assert s.scalar(select(Membership.role).where(Membership.user_id == user.id)) == Role.member

    # an admin cannot demote or deactivate themselves: no controls on their row, and the server refuses
    me = page.locator("tr[data-username='a-coop_admin']")
    assert me.locator("form").count() == 0 and "(bạn)" in me.inner_text()
    my_membership = int(me.get_attribute("data-member"))
    assert _post(page, f"/admin/members/{my_membership}/role", role="member") == 400
    assert _post(page, f"/admin/members/{my_membership}/deactivate") == 400
    with sessions() as s:
        assert s.get(Membership, my_membership).role == Role.coop_admin
        assert s.get(User, a.user_ids[Role.coop_admin]).is_active

    # deactivate the new member (with a confirmation): their browser session and tokens end at once
    page.once("dialog", lambda d: d.accept())
    page.locator("tr[data-username='nong-dan-moi']").get_by_role("button", name="Khoá tài khoản").click()
    page.wait_for_selector(".flash.ok")
    assert page.locator("tr[data-username='nong-dan-moi'] .badge", has_text="Đã khoá").count() == 1
    with sessions() as s:
        assert not s.get(User, user.id).is_active
        tokens = s.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all()
        assert tokens and all(t.revoked_at is not None for t in tokens)
    member_page.goto("/alerts")
    assert "/login" in member_page.url
    screenshot(page, "admin-members")

    # cameras: status, last seen, battery/disk not reported yet
    page.goto("/admin/cameras")
    online = page.locator(f"tr[data-camera='{a.camera_id}']")
    assert online.get_attribute("data-state") == "online"
    assert "3 phút trước" in online.inner_text() and "Đang hoạt động" in online.inner_text()
    silent = page.locator("table.cameras tr", has_text="cam bẫy dính")  # the cameras table (not the storage one)
    assert silent.get_attribute("data-state") == "silent" and "5 giờ trước" in silent.inner_text()
    assert online.locator("td.num").all_inner_texts() == ["—", "—"]

    # rotating asks first: dismissing keeps the token
    page.once("dialog", lambda d: d.dismiss())
    online.get_by_role("button", name="Đổi mã thiết bị").click()
    page.wait_for_timeout(300)
    assert page.locator("#new-token").count() == 0
    with sessions() as s:
        assert s.get(Camera, a.camera_id).token_hash == old_hash
    # accepting shows the new token once; the old one is refused by the ingest API, the new one accepted
    messages = []
    page.once("dialog", lambda d: (messages.append(d.message), d.accept()))
    online.get_by_role("button", name="Đổi mã thiết bị").click()
    page.wait_for_selector("#new-token")
    assert "Mã cũ ngừng hoạt động" in messages[0]
    new_token = page.locator("#new-token").inner_text().strip()
    assert new_token.startswith("cam_") and new_token != a.camera_token
    assert _slot_status(live_server.url, a.camera_token) == 401
    assert _slot_status(live_server.url, new_token) in (200, 201)
    with sessions() as s:
        assert s.get(Camera, a.camera_id).token_hash == token_hash(new_token)
    page.goto("/admin/cameras")
    assert page.locator("#new-token").count() == 0, "a token is shown once only"

    # add a camera: its token is shown once and stored hashed
    page.locator("summary", has_text="Thêm camera").click()
    page.get_by_label("Tên camera").fill("Camera quả lô a")
    page.get_by_label("Loại").select_option("fruit")
    page.get_by_label("Mô hình nhận dạng").select_option("ripeness")
    page.get_by_label("Chu kỳ chụp (giây)").fill("1800")
    page.get_by_role("button", name="Thêm camera và cấp mã").click()
    page.wait_for_selector("#new-token")
    token = page.locator("#new-token").inner_text().strip()
    with sessions() as s:
        added = s.scalar(select(Camera).where(Camera.name == "Camera quả lô a"))
        assert (
            added.cooperative_id,
            added.plot_id,
            added.kind.value,
            added.model_task.value,
            added.capture_interval_s,
        ) == (a.cooperative_id, a.plot_id, "fruit", "ripeness", 1800)
        assert added.token_hash == token_hash(token)
    assert page.locator(f"tr[data-camera='{added.id}']").get_attribute("data-state") == "never"
    screenshot(page, "admin-cameras")
    # POST-redirect-GET: a reload neither adds a second camera nor shows the token again
    assert "/admin/cameras?token=" in page.url
    page.reload()
    assert page.locator("#new-token").count() == 0 and "chỉ hiện một lần" in page.locator(".flash").inner_text()
    with sessions() as s:
        assert len(s.scalars(select(Camera).where(Camera.name == "Camera quả lô a")).all()) == 1

    # revoke: the token stops working
    page.once("dialog", lambda d: d.accept())
    page.locator(f"tr[data-camera='{added.id}']").get_by_role("button", name="Thu hồi mã").click()
    page.wait_for_selector(".flash.ok")
    assert page.locator(f"tr[data-camera='{added.id}']").get_attribute("data-state") == "revoked"
    assert _slot_status(live_server.url, token) == 401

    # farms and plots
    page.goto("/admin/plots")
    page.locator("summary", has_text="Thêm trang trại").click()
    page.get_by_label("Tên trang trại").fill("Trang trại Sông Hậu")
    page.get_by_label("Địa chỉ").fill("Cần Thơ")
    page.get_by_label("Chủ hộ").select_option(str(a.user_ids[Role.member]))
    page.locator("form[action='/admin/farms']").get_by_role("button", name="Thêm trang trại").click()
    page.wait_for_selector(".flash.ok")
    with sessions() as s:
        farm = s.scalar(select(Farm).where(Farm.name == "Trang trại Sông Hậu"))
        assert (farm.cooperative_id, farm.address, farm.owner_id) == (
            a.cooperative_id,
            "Cần Thơ",
            a.user_ids[Role.member],
        )
    plot_form = page.locator("form[action='/admin/plots']")
    plot_form.get_by_label("Trang trại").select_option(str(farm.id))
    plot_form.get_by_label("Tên lô").fill("Lô cà chua 1")
    plot_form.get_by_label("Cây trồng").fill("cà chua")
    plot_form.get_by_label("Giống", exact=True).fill("Savior")
    plot_form.get_by_label("Diện tích (m²)").fill("1200")
    plot_form.get_by_label("Ngày xuống giống").fill("2025-09-01")
    plot_form.get_by_label("Dự kiến thu hoạch").fill("2025-08-01")
    plot_form.get_by_label("Mã vùng trồng").fill("VN-CT-0042")
    plot_form.get_by_role("button", name="Thêm lô").click()
    page.wait_for_selector(".flash.error")
    assert "sau ngày xuống giống" in page.locator(".flash.error").inner_text()
    assert plot_form.get_by_label("Tên lô").input_value() == "Lô cà chua 1"
    plot_form.get_by_label("Dự kiến thu hoạch").fill("2025-12-15")
    plot_form.get_by_role("button", name="Thêm lô").click()
    page.wait_for_selector(".flash.ok")
    assert (
        page.locator("section.farm", has_text="Trang trại Sông Hậu")
        .locator("tr", has_text="Lô cà chua 1")
        .inner_text()
        .count("/")
        >= 4
    )  # both dates written dd/mm/yyyy
    with sessions() as s:
        plot = s.scalar(select(Plot).where(Plot.name == "Lô cà chua 1"))
        assert (
            plot.cooperative_id,
            plot.farm_id,
            plot.crop,
            plot.variety,
            plot.area_m2,
            plot.planting_date,
            plot.expected_harvest,
            plot.growing_area_code,
        ) == (
            a.cooperative_id,
            farm.id,
            "cà chua",
            "Savior",
            1200.0,
            dt.date(2025, 9, 1),
            dt.date(2025, 12, 15),
            "VN-CT-0042",
        )
    screenshot(page, "admin-plots")


# union ----------------------------------------------------------------------------------------------------------


def _at_local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), LOCAL_TZ).astimezone(dt.timezone.utc)


def _capture(s, tenant, plot_id: int, when: dt.datetime, detections: list[tuple[str, ReviewState]]) -> None:
    cap = Capture(
        cooperative_id=tenant.cooperative_id,
        camera_id=tenant.camera_id,
        plot_id=plot_id,
        object_key=f"test/{uuid.uuid4().hex}.jpg",
        sha256=uuid.uuid4().hex * 2,
        size_bytes=1000,
        captured_at=when,
        status=CaptureStatus.done,
        width=640,
        height=480,
    )
    s.add(cap)
    s.flush()
    for i, (cls, state) in enumerate(detections):
        s.add(
            Detection(
                cooperative_id=tenant.cooperative_id,
                capture_id=cap.id,
                class_id=i,
                class_name=cls,
                score=0.8,
                x1=1,
                y1=1,
                x2=20,
                y2=20,
                review_state=state,
            )
        )


def _seed_union(s) -> dict:
    a, b, c = make_tenant(s, "a"), make_tenant(s, "b"), make_tenant(s, "c")
    for tenant, union, name, province in (
        (a, UNION, "HTX Lúa Xanh Sóc Trăng", "Sóc Trăng"),
        (b, UNION, "HTX Rau Quả Cần Thơ", "Cần Thơ"),
        (c, "lm-khac", "HTX Ngoài Liên Minh", "Hà Nội"),
    ):
        coop = s.get(Cooperative, tenant.cooperative_id)
        coop.union_code, coop.name, coop.province = union, name, province
    admin = User(username=UNION_ADMIN, full_name="Quản trị liên minh", password_hash=hash_password(UNION_PW))
    s.add(admin)
    s.flush()
    s.add(Membership(user_id=admin.id, cooperative_id=a.cooperative_id, role=Role.union_admin))
    # a second plot with another crop in b
    tomato = Plot(
        cooperative_id=b.cooperative_id, farm_id=s.get(Plot, b.plot_id).farm_id, name="Lô cà chua", crop="cà chua"
    )
    s.add(tomato)
    s.flush()

    today = utcnow().astimezone(LOCAL_TZ).date()
    first = today.replace(day=1)
    prev_last = first - dt.timedelta(days=1)
    ok, rejected = ReviewState.unreviewed, ReviewState.rejected
    # the local-month edge: 23:30 on the previous month's last day is that month; 00:30 on the 1st is this month
    _capture(
        s,
        a,
        a.plot_id,
        _at_local(prev_last, 23, 30),
        [("planthopper", ok), ("planthopper", ReviewState.confirmed), ("rice bug", rejected)],
    )
    _capture(s, a, a.plot_id, _at_local(first, 0, 30), [("planthopper", ok), ("rice leaf roller", ok)])
    _capture(
        s,
        a,
        a.plot_id,
        _at_local(prev_last - dt.timedelta(days=5), 9),
        [("grasshopper", ReviewState.relabeled), ("ripe", ok)],
    )
    _capture(s, b, b.plot_id, _at_local(first, 8), [("rice stem borer", ok)] * 3)
    _capture(
        s,
        b,
        tomato.id,
        _at_local(prev_last, 10),
        [("caterpillar on leaf", ok), ("unripe", ok), ("caterpillar on leaf", rejected)],
    )
    _capture(s, c, c.plot_id, _at_local(first, 9), [("planthopper", ok)] * 7)
    for tenant, level, cls in (
        (a, AlertLevel.danger, "planthopper"),
        (a, AlertLevel.warning, "planthopper"),
        (a, AlertLevel.warning, "rice bug"),
        (b, AlertLevel.watch, "rice stem borer"),
        (c, AlertLevel.danger, "planthopper"),
    ):
        s.add(
            Alert(
                cooperative_id=tenant.cooperative_id,
                plot_id=tenant.plot_id,
                class_name=cls,
                level=level,
                local_day=today,
                count=3,
                threshold=1,
            )
        )
    return {"a": a, "b": b, "c": c, "first": first, "prev_last": prev_last}


PEST_VI = {RICE_PESTS_NAMES[k]: RICE_PESTS_NAMES_VI[k] for k in RICE_PESTS_NAMES}


def _expected_rows(s, coop_ids: list[int]) -> list[list[str]]:
    """The CSV computed independently from the rows: not rejected, no fruit classes, by local month. Each camera
    sends one photo a day here, so the plots' daily figures are the photos' counts (tests/test_alert_rules.py
    shows a trap photographed all day counted once)."""
    names = {c.id: c.name for c in s.scalars(select(Cooperative))}
    counts = collections.Counter()
    for det, cap, plot in s.execute(
        select(Detection, Capture, Plot)
        .join(Capture, Capture.id == Detection.capture_id)
        .join(Plot, Plot.id == Capture.plot_id)
        .where(Capture.cooperative_id.in_(coop_ids))
    ):
        if det.review_state == ReviewState.rejected or det.class_name in FRUIT_CLASSES:
            continue
        counts[
            (
                names[cap.cooperative_id],
                plot.crop,
                cap.captured_at.astimezone(LOCAL_TZ).strftime("%m/%Y"),
                PEST_VI[det.class_name],
                det.class_name,
            )
        ] += 1
    return sorted([*k, str(n)] for k, n in counts.items())


def test_union_admin_sees_union_numbers_and_downloads_csv(live_server, open_page, sessions, tmp_path):
    with sessions.begin() as s:
        seed = _seed_union(s)
    a, b = seed["a"], seed["b"]

    page = open_page(UNION_ADMIN, UNION_PW, DESKTOP)
    assert page.url.endswith("/union")
    coops = page.locator("table.union-coops tbody tr")
    assert sorted(coops.evaluate_all("rows => rows.map(r => r.dataset.coop)")) == ["a", "b"]
    assert "HTX Ngoài Liên Minh" not in page.content()
    row_a, row_b = page.locator("tr[data-coop=a]"), page.locator("tr[data-coop=b]")
    assert row_a.locator("[data-col=captures]").inner_text() == "3"
    assert row_a.locator("[data-col=alerts-danger]").inner_text() == "1"
    assert row_a.locator("[data-col=alerts-warning]").inner_text() == "2"
    assert row_b.locator("[data-col=alerts-watch]").inner_text() == "1"
    assert row_a.locator("[data-col=pests]").inner_text() == "5"  # 2 + 2 + 1 (rejected and fruit left out)
    assert row_b.locator("[data-col=pests]").inner_text() == "4"
    # the pests table names pests in Vietnamese; the chart is drawn from the page's JSON
    assert page.locator("table.union-pests", has_text="rầy nâu").count() == 1
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('union-chart-canvas'))")
    datasets = page.evaluate(
        "() => Chart.getChart(document.getElementById('union-chart-canvas')).data.datasets"
        ".map(d => [d.label, d.data.reduce((x, y) => x + y, 0)])"
    )
    assert sorted(datasets) == [["HTX Lúa Xanh Sóc Trăng", 5], ["HTX Rau Quả Cần Thơ", 4]]
    # numbers only: nothing on the page leads to another cooperative's photos
    assert page.locator("img, a[href^='/captures']").count() == 0
    screenshot(page, "union")

    with page.expect_download() as info:
        page.get_by_role("link", name="Tải CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv") and UNION in download.suggested_filename
    download.save_as(tmp_path / "u.csv")
    text = (tmp_path / "u.csv").read_bytes()
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert rows[0] == [
        "Hợp tác xã",
        "Cây trồng",
        "Tháng",
        "Loài",
        "Lớp mô hình",
        "Số con (tổng số liệu ngày của các lô)",
    ]
    with sessions() as s:
        expected = _expected_rows(s, [a.cooperative_id, b.cooperative_id])
    assert sorted(rows[1:]) == expected
    # the local-month edges, spelled out
    prev, this = seed["prev_last"].strftime("%m/%Y"), seed["first"].strftime("%m/%Y")
    assert ["HTX Lúa Xanh Sóc Trăng", "lúa", prev, "rầy nâu", "planthopper", "2"] in rows
    assert ["HTX Lúa Xanh Sóc Trăng", "lúa", this, "rầy nâu", "planthopper", "1"] in rows
    assert ["HTX Rau Quả Cần Thơ", "cà chua", prev, "sâu ăn lá", "caterpillar on leaf", "1"] in rows
    assert not any(r[0] == "HTX Ngoài Liên Minh" for r in rows)
    assert not any(r[4] in ("ripe", "unripe", "rice bug") for r in rows[1:])

    # the page in English
    page.goto("/union?lang=en&months=3")
    assert page.locator("h2", has_text="Pests detected per month").count() == 1
    assert page.locator("#u-months").input_value() == "3"

    phone = open_page(UNION_ADMIN, UNION_PW, PHONE)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1

    # the union admin is no cooperative admin
    assert page.goto("/admin/members").status == 403


# access control -------------------------------------------------------------------------------------------------


def test_roles_and_other_cooperatives_are_refused(live_server, open_page, sessions):
    with sessions.begin() as s:
        a = make_tenant(s, "a")
        make_tenant(s, "b")
        a_member = s.scalar(select(Membership).where(Membership.user_id == a.user_ids[Role.member]))
        a_member_id = a_member.id
        a_farm = s.get(Plot, a.plot_id).farm_id
        a_hash = s.get(Camera, a.camera_id).token_hash

    member = open_page("a-member", "pw-a", DESKTOP)
    for path in ("/admin/members", "/admin/cameras", "/admin/plots", "/union", "/union/export.csv"):
        assert member.goto(path).status == 403, path
    assert "không có quyền" in member.locator("main").inner_text()

    # an agronomist sees the cameras read-only, and cannot rotate
    agro = open_page("a-agronomist", "pw-a", DESKTOP)
    assert agro.goto("/admin/cameras").status == 200
    assert agro.locator("form[action$='/rotate'], form[action='/admin/cameras']").count() == 0
    assert _post(agro, f"/admin/cameras/{a.camera_id}/rotate") == 403
    assert agro.goto("/admin/members").status == 403

    # an admin of cooperative B: cooperative A's ids do not exist for them
    admin_b = open_page("b-coop_admin", "pw-b", DESKTOP)
    assert admin_b.goto("/union").status == 403
    assert _post(admin_b, f"/admin/members/{a_member_id}/role", role="coop_admin") == 404
    assert _post(admin_b, f"/admin/members/{a_member_id}/deactivate") == 404
    assert _post(admin_b, f"/admin/cameras/{a.camera_id}/rotate") == 404
    assert _post(admin_b, f"/admin/cameras/{a.camera_id}/revoke") == 404
    assert (
        _post(
            admin_b,
            "/admin/cameras",
            name="x",
            plot_id=str(a.plot_id),
            kind="garden",
            model_task="pest",
            capture_interval_s="600",
        )
        == 404
    )
    assert _post(admin_b, "/admin/plots", farm_id=str(a_farm), name="x", crop="lúa") == 404
    # B's own admin page lists B's people only
    admin_b.goto("/admin/members")
    assert admin_b.locator("tr[data-username^='a-']").count() == 0
    assert admin_b.locator("tr[data-username^='b-']").count() == 4
    # on a phone the page itself does not scroll sideways (wide tables scroll in their own box)
    phone = open_page("b-coop_admin", "pw-b", PHONE)
    for path in ("/admin/members", "/admin/cameras", "/admin/plots"):
        phone.goto(path)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1, path
    # a post without the CSRF token is refused
    assert admin_b.request.post(f"/admin/members/{a_member_id}/deactivate", form={}, max_redirects=0).status == 403
    with sessions() as s:
        m = s.get(Membership, a_member_id)
        assert m.role == Role.member and s.get(User, m.user_id).is_active
        cam = s.get(Camera, a.camera_id)
        assert cam.token_hash == a_hash and cam.token_revoked_at is None
        assert s.scalar(select(Camera).where(Camera.name == "x")) is None
        assert s.scalar(select(Plot).where(Plot.name == "x")) is None
    assert _slot_status(live_server.url, a.camera_token) in (200, 201)


def test_cameras_page_shows_what_the_field_agent_reports(live_server, open_page, sessions):
    import httpx
    from factories import make_tenant

    with sessions.begin() as s:
        tenant = make_tenant(s, "a")
    r = httpx.post(
        f"{live_server.url}/api/v1/cameras/me/heartbeat",
        headers=tenant.camera_auth,
        json={
            "agent_version": "0.2.0",
            "disk_free_bytes": 3_500_000_000,
            "battery_pct": 64,
            "temperature_c": 58,
            "backlog": 12,
            "evicted_total": 4,
            "last_error": "link down",
        },
    )
    assert r.status_code == 200
    page = open_page("a-coop_admin", "pw-a")
    page.goto("/admin/cameras")
    row = page.locator(f"tr[data-camera='{tenant.camera_id}']").inner_text()
    for text in ("64%", "58 °C", "còn 3.5 GB", "12 ảnh chờ gửi", "đã xoá bớt 4 ảnh"):
        assert text in row, (text, row)


def test_admin_records_a_vietgap_certificate_that_a_lot_page_then_shows(live_server, open_page, sessions):
    with sessions.begin() as s:
        a = make_tenant(s, "ct")
        crop = s.get(Plot, a.plot_id).crop
    page = open_page("ct-coop_admin", "pw-ct", DESKTOP)
    page.goto("/admin/plots")
    form = page.locator("#cert-form")
    form.get_by_label("Số chứng nhận").fill("VG-0042")
    form.get_by_label("Hiệu lực từ").fill("2026-06-01")
    form.get_by_label("Hiệu lực đến").fill("2026-01-01")
    form.get_by_role("button", name="Thêm chứng nhận").click()
    assert "Ngày hết hiệu lực trước ngày bắt đầu hiệu lực." in page.locator(".flash.error").inner_text()
    assert form.get_by_label("Số chứng nhận").input_value() == "VG-0042"  # what was typed is kept
    form.get_by_label("Hiệu lực từ").fill("2026-01-01")
    form.get_by_label("Hiệu lực đến").fill("2028-12-31")
    form.get_by_label("Tổ chức chứng nhận").fill("Trung tâm Kiểm định B")
    form.get_by_label("Cây trồng (cách nhau").fill(crop)
    form.get_by_role("button", name="Thêm chứng nhận").click()
    page.wait_for_selector(".flash.ok")
    assert "31/12/2028" in page.locator("tr[data-cert='VG-0042']").inner_text()
    lot = page.request.post(
        f"{live_server.url}/api/v1/lots",
        headers={"Authorization": f"Bearer {a.tokens[Role.member]}"},
        data={"plot_id": a.plot_id, "harvested_on": local_today().isoformat(), "quantity": 10},
    )
    assert lot.status == 201, lot.text()
    public = page.context.browser.new_page()
    public.goto(f"{live_server.url}/t/{lot.json()['public_code']}")
    assert "VG-0042 — Trung tâm Kiểm định B" in public.locator("tr.cert").inner_text()
    page.locator("tr[data-cert='VG-0042']").get_by_role("button", name="Xoá").click()
    page.wait_for_selector(".flash.ok")
    assert page.locator("tr[data-cert='VG-0042']").count() == 0


def local_today() -> dt.date:
    return utcnow().astimezone(LOCAL_TZ).date()
