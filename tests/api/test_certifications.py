"""Issue 17: a lot's public page shows the cooperative's certificates (VietGAP, GlobalG.A.P., organic) valid on
its harvest day for its crop, and only those; bad certificates are refused with a reason; only the cooperative's
admin records or removes them, and another cooperative's are out of reach."""

from __future__ import annotations

import datetime as dt

from cropwatch.core.enums import Role
from cropwatch.core.timeutil import LOCAL_TZ, utcnow

TODAY = utcnow().astimezone(LOCAL_TZ).date()


def _cert(client, tenant, role=Role.coop_admin, **body):
    return client.post("/api/v1/certifications", headers=tenant.auth(role), json=body)


def test_a_lots_page_shows_the_certificates_valid_for_its_crop_on_its_harvest_day(client, tenant_a, tenant_b, sessions):
    from cropwatch.core.orm import Plot

    with sessions() as s:
        crop = s.get(Plot, tenant_a.plot_id).crop
    until = (TODAY + dt.timedelta(days=300)).isoformat()
    vietgap = _cert(
        client, tenant_a, scheme="vietgap", code="VietGAP-TT-22-01", issued_by="Trung tâm Chứng nhận A",
        valid_until=until, crops=[crop.upper()],
    )  # fmt: skip
    assert vietgap.status_code == 201, vietgap.text
    assert (
        _cert(client, tenant_a, scheme="organic", code="HC-9", valid_until=until, crops=["cà chua"]).status_code == 201
    )
    expired = _cert(
        client, tenant_a, scheme="globalgap", code="GGN-OLD", valid_until=(TODAY - dt.timedelta(days=30)).isoformat()
    )
    assert expired.status_code == 201
    assert _cert(client, tenant_a, Role.member, scheme="vietgap", code="X", valid_until=until).status_code == 403
    bad = _cert(client, tenant_a, scheme="iso", code="1", valid_until=until)
    assert bad.status_code == 422 and bad.json()["detail"].startswith("Loại chứng nhận phải là một trong: vietgap")
    backwards = _cert(client, tenant_a, scheme="vietgap", code="2", valid_from=until, valid_until=TODAY.isoformat())
    assert backwards.status_code == 422 and backwards.json()["code"] == "cert_ends_before_start"

    lot = client.post(
        "/api/v1/lots",
        headers=tenant_a.auth(Role.member),
        json={"plot_id": tenant_a.plot_id, "harvested_on": TODAY.isoformat(), "quantity": 100},
    ).json()
    page = client.get(f"/t/{lot['public_code']}").text
    assert "Chứng nhận VietGAP" in page and "VietGAP-TT-22-01" in page and "Trung tâm Chứng nhận A" in page
    assert "HC-9" not in page, "a certificate for another crop"
    assert "GGN-OLD" not in page, "a certificate that expired before the harvest"
    assert "VietGAP certificate" in client.get(f"/t/{lot['public_code']}?lang=en").text

    # another cooperative sees none of it and cannot remove it
    assert client.get("/api/v1/certifications", headers=tenant_b.auth(Role.coop_admin)).json() == []
    cert_id = vietgap.json()["id"]
    assert client.delete(f"/api/v1/certifications/{cert_id}", headers=tenant_b.auth(Role.coop_admin)).status_code == 404
    assert client.delete(f"/api/v1/certifications/{cert_id}", headers=tenant_a.auth(Role.coop_admin)).status_code == 204
    assert "VietGAP-TT-22-01" not in client.get(f"/t/{lot['public_code']}").text


def test_a_past_seasons_lot_shows_that_seasons_crop_and_its_certificate(client, tenant_a, sessions):
    """The plot grew cabbage last season and rice now: last season's lot says cabbage and shows the cabbage
    certificate, not the rice one."""
    from cropwatch.core.orm import Plot, PlotSeason

    last = TODAY - dt.timedelta(days=120)
    with sessions.begin() as s:
        plot = s.get(Plot, tenant_a.plot_id)
        plot.planting_date = TODAY - dt.timedelta(days=30)
        s.add(
            PlotSeason(
                cooperative_id=plot.cooperative_id, plot_id=plot.id, crop="cải bắp", variety="KK Cross",
                area_m2=1000, planting_date=last - dt.timedelta(days=70), expected_harvest=last, ended_on=last,
            )
        )  # fmt: skip
        current_crop = plot.crop
    until = (TODAY + dt.timedelta(days=30)).isoformat()
    since = (last - dt.timedelta(days=200)).isoformat()
    kw = {"valid_from": since, "valid_until": until}
    assert _cert(client, tenant_a, scheme="vietgap", code="VG-CABBAGE", crops=["Cải bắp"], **kw).status_code == 201
    assert _cert(client, tenant_a, scheme="vietgap", code="VG-NOW", crops=[current_crop], **kw).status_code == 201
    old = client.post(
        "/api/v1/lots",
        headers=tenant_a.auth(Role.member),
        json={"plot_id": tenant_a.plot_id, "harvested_on": last.isoformat(), "quantity": 300},
    ).json()
    view = client.get(f"/t/{old['public_code']}.json").json()
    assert (view["crop"], view["variety"]) == ("cải bắp", "KK Cross")
    assert [c["code"] for c in view["certifications"]] == ["VG-CABBAGE"]
