"""/metrics counts the capture path where it happens: the histograms move with the captures processed."""

from __future__ import annotations

from helpers import rice_photos, sample, upload

from cropwatch.worker.pipeline import CaptureProcessor, Outcome


def test_the_scrape_shows_the_capture_histograms_moving(
    client, settings, sessions, storage, tenant_a, models_registered
):
    processor = CaptureProcessor(settings, sessions, storage)
    photos = rice_photos(4)
    first = upload(sessions, storage, settings, tenant_a, photos[0].read_bytes())
    assert processor.process(first).outcome == Outcome.done  # the model file is fetched once, before the count
    ids = [upload(sessions, storage, settings, tenant_a, p.read_bytes()) for p in photos[1:]]
    before = client.get("/metrics").text
    results = processor.process_many(ids)
    assert {r.outcome for r in results.values()} == {Outcome.done}
    client.get(f"/api/v1/captures/{ids[0]}", headers=tenant_a.auth())
    after = client.get("/metrics").text

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("cropwatch_capture_seconds_count") == 3
    assert moved("cropwatch_queue_wait_seconds_count") == 3
    assert moved("cropwatch_captures_processed_total", outcome="done") == 3
    assert moved("cropwatch_batch_images_sum") == 3, "one batched model call of 3 photos"
    assert moved("cropwatch_batch_images_count") == 1
    assert moved("cropwatch_forward_seconds_sum") > 0
    assert moved("cropwatch_s3_seconds_count", operation="get") == 3
    # the batch is claimed with one statement and stored in one transaction (docs/decisions.md)
    assert moved("cropwatch_db_seconds_count", step="claim") == 1
    assert moved("cropwatch_db_seconds_count", step="store") == 1
    route = "/api/v1/captures/{capture_id}"
    assert moved("cropwatch_http_request_seconds_count", route=route, method="GET") == 1, "by template, not raw path"
