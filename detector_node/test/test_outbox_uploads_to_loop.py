"""The outbox delivers to a real (local) Learning Loop: multipart `files` batches, priority
first, retry with backoff, 422 splitting, stopped mode, bounded size, restart."""

from __future__ import annotations

import asyncio
import json
import os
import time
from itertools import pairwise

import requests
from dn_helpers import ORG, PROJECT, jpeg_bytes, red_disc_bgr, wait_for

from detector_node.outbox import Outbox

JPEG = jpeg_bytes(red_disc_bgr(64, 48, (32, 24), 8))


def images_url(loop) -> str:
    return f"{loop.api()}/{ORG}/projects/{PROJECT}/images"


async def until(predicate, timeout_s: float = 10.0) -> bool:
    """Whether `predicate()` became true within `timeout_s`, the event loop running."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    return bool(predicate())


async def drain(outbox: Outbox, timeout_s: float = 10.0) -> bool:
    outbox.start()
    await until(lambda: not outbox.pending_ids(), timeout_s)
    await outbox.close()
    return not outbox.pending_ids()


def test_uploads_reach_the_loop_from_the_service(start_service, fake_loop):
    host = start_service(loop_url=fake_loop.api(), organization=ORG, project=PROJECT)
    response = requests.post(f"http://127.0.0.1:{host.port}/upload?source=cam",
                             files=[("files", JPEG)] * 3, timeout=10)
    assert response.status_code == 200
    assert wait_for(lambda: len(fake_loop.received) == 3)
    assert wait_for(lambda: host.service.outbox.stats().normal_queued == 0)
    assert all(m["tags"] == ["picked_by_system"] and m["source"] == "cam"
               for m in fake_loop.metadata.values())
    assert host.service.outbox.stats().uploaded_count == 3
    assert os.listdir(os.path.join(host.service.config.data_folder, "outbox", "normal")) == []
    # Parts as the Loop's detector sends them: the JSON as a text file, the image as JPEG.
    kinds = {name.rsplit(".", 1)[1]: kind for name, kind in
             (entry.split(": ", 1) for entry in fake_loop.content_types)}
    assert kinds == {"json": "text/plain; charset=utf-8", "jpg": "image/jpeg"}


def test_priority_items_go_first(tmp_path, fake_loop):
    async def scenario() -> None:
        outbox = Outbox(str(tmp_path), images_url(fake_loop), batch_size=2, interval_s=0.05)
        normal = [outbox.save(JPEG, "{}") for _ in range(3)]
        priority = [outbox.save(JPEG, "{}", priority=True) for _ in range(2)]
        assert await drain(outbox)
        assert sorted(fake_loop.received[:2]) == sorted(priority)
        assert sorted(fake_loop.received[2:]) == sorted(normal)
        assert sorted(fake_loop.received[2:4]) == normal[1:], "normal items go newest first"
        assert fake_loop.received[4] == normal[0]

    asyncio.run(scenario())


def test_failures_keep_items_and_retry_with_backoff(tmp_path, fake_loop):
    attempts: list[float] = []  # when each upload reached the Loop
    fake_loop.status_for = lambda ids: attempts.append(time.monotonic()) or 503

    async def scenario() -> None:
        outbox = Outbox(str(tmp_path), images_url(fake_loop), interval_s=0.05, backoff_max_s=0.2)
        ids = [outbox.save(JPEG, "{}") for _ in range(3)]
        outbox.start()
        assert await until(lambda: outbox.failed_attempts >= 4), "retried"
        assert sorted(outbox.pending_ids()) == sorted(ids) and fake_loop.received == []
        # With backoff, not in a tight loop: after each failure the wait doubles from
        # interval_s up to backoff_max_s (a busy machine only makes the gaps longer).
        gaps = [later - earlier for earlier, later in pairwise(attempts[:4])]
        assert all(gap >= 0.9 * wait for gap, wait in zip(gaps, (0.1, 0.2, 0.2), strict=True)), \
            gaps
        fake_loop.status_for = lambda ids: 200
        assert await until(lambda: not outbox.pending_ids(), timeout_s=5)
        await outbox.close()
        assert sorted(fake_loop.received) == sorted(ids)

    asyncio.run(scenario())


def test_unreachable_loop_keeps_items(tmp_path):
    async def scenario() -> None:
        outbox = Outbox(str(tmp_path), "http://127.0.0.1:9/api/o/projects/p/images",
                        interval_s=0.05, backoff_max_s=0.1)
        outbox.save(JPEG, "{}")
        outbox.start()
        assert await until(lambda: outbox.failed_attempts >= 2)
        await outbox.close()
        assert len(outbox.pending_ids()) == 1

    asyncio.run(scenario())


def test_a_broken_item_is_isolated_by_splitting(tmp_path, fake_loop):
    async def scenario() -> None:
        outbox = Outbox(str(tmp_path), images_url(fake_loop), batch_size=8, interval_s=0.05)
        good = [outbox.save(JPEG, json.dumps({"tags": []})) for _ in range(4)]
        broken = outbox.save(b"\xff\xd8\xff not really a jpeg", "{}")
        good += [outbox.save(JPEG, "{}") for _ in range(3)]
        assert await drain(outbox)
        assert sorted(fake_loop.received) == sorted(good)
        assert broken not in fake_loop.received
        assert outbox.rejected_count == 1 and outbox.uploaded_count == 7

    asyncio.run(scenario())


def test_stopped_mode_holds_items(tmp_path, fake_loop):
    async def scenario() -> None:
        outbox = Outbox(str(tmp_path), images_url(fake_loop), interval_s=0.05)
        await outbox.set_mode("stopped")
        outbox.save(JPEG, "{}")
        await asyncio.sleep(0.3)
        assert fake_loop.requests == 0 and len(outbox.pending_ids()) == 1
        assert outbox.get_mode().value == "stopped"
        await outbox.set_mode("continuous_upload")
        assert outbox.get_mode().value == "continuous_upload"
        assert await drain(outbox)
        assert outbox.uploaded_count == 1

    asyncio.run(scenario())


def test_bounded_size_drops_oldest_normal_items(tmp_path):
    outbox = Outbox(str(tmp_path), None, max_items=3)
    ids = [outbox.save(JPEG, "{}") for _ in range(5)]
    kept_priority = outbox.save(JPEG, "{}", priority=True)
    assert outbox.pending_ids() == [kept_priority, *ids[2:]]
    stats = outbox.stats()
    assert stats.dropped_count == 2 and stats.normal_queued == 3 and stats.priority_queued == 1
    assert sorted(os.listdir(tmp_path / "outbox" / "normal")) == ids[2:]


def test_restart_requeues_and_discards_partial_writes(tmp_path):
    first = Outbox(str(tmp_path), None)
    ids = [first.save(JPEG, "{}"), first.save(JPEG, "{}", priority=True)]
    # What a kill -9 can leave: a half-written item in tmp/, a half-deleted one in done/.
    os.makedirs(tmp_path / "outbox" / "tmp" / "x")
    (tmp_path / "outbox" / "tmp" / "x" / "image_x.json").write_text("{")
    os.makedirs(tmp_path / "outbox" / "done" / "y")
    second = Outbox(str(tmp_path), None)
    assert sorted(second.pending_ids()) == sorted(ids)
    assert os.listdir(tmp_path / "outbox" / "tmp") == [] and os.listdir(tmp_path / "outbox" / "done") == []
    assert second.save(JPEG, "{}") > max(ids), "new items sort after the ones found on disk"


def test_api_responsive_during_a_large_upload(start_service, fake_loop):
    host = start_service(loop_url=fake_loop.api(), organization=ORG, project=PROJECT)
    url = f"http://127.0.0.1:{host.port}"
    assert requests.put(f"{url}/outbox_mode", data="stopped", timeout=10).status_code == 200
    for _ in range(150):
        host.service.outbox.save(JPEG, "{}")
    assert requests.put(f"{url}/outbox_mode", data="continuous_upload", timeout=10).status_code == 200
    answered = 0
    while host.service.outbox.stats().normal_queued > 0 and answered < 1000:
        assert requests.get(f"{url}/outbox_mode", timeout=2).status_code == 200
        answered += 1
    assert wait_for(lambda: len(fake_loop.received) == 150)
    assert len(set(fake_loop.received)) == 150
