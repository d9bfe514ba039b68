"""Model version control: hot swap without dropping requests, following the Loop's
deployment target (downloading the model), pause, and restart on the current model."""

from __future__ import annotations

import threading

import pytest
import requests
from dn_helpers import ORG, PROJECT, wait_for, write_fixed_model

from detector_node.synthetic_model import write_red_grid_model


@pytest.mark.timeout(60)
def test_hot_swap_drops_no_request(start_service, tmp_path, red_disc_jpeg):
    models = tmp_path / "data" / "models"
    write_red_grid_model(str(models / "1.0"), version="1.0", resolution=320, cell=16)
    write_fixed_model(str(models / "2.0"), "2.0")
    host = start_service(model_folder=str(models / "1.0"))
    url = f"http://127.0.0.1:{host.port}"
    statuses: list[int] = []
    versions: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                response = session.post(f"{url}/detect", files={"file": ("a.jpg", red_disc_jpeg)},
                                        headers={"autoupload": "disabled"}, timeout=10)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    versions.extend(d["model_name"] for d in response.json()["box_detections"])

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        assert wait_for(lambda: len(statuses) >= 10)
        for version in ("2.0", "1.0", "2.0"):
            assert requests.put(f"{url}/model_version", data=version, timeout=10).status_code == 200
            assert wait_for(lambda v=version: host.service.active.info.version == v)
            seen = len(statuses)
            assert wait_for(lambda s=seen: len(statuses) >= s + 5)
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)
    assert set(statuses) == {200}, "a request failed during a model swap"
    assert {"1.0", "2.0"} <= set(versions)
    assert requests.get(f"{url}/model_version", timeout=10).json()["current_version"] == "2.0"


def test_follow_loop_downloads_and_pause_holds(start_service, tmp_path, fake_loop, red_disc_jpeg):
    write_fixed_model(str(tmp_path / "src" / "1.1"), "1.1")
    write_fixed_model(str(tmp_path / "src" / "1.2"), "1.2")
    fake_loop.add_model_zip("uuid-11", "1.1", str(tmp_path / "src" / "1.1"))
    fake_loop.add_model_zip("uuid-12", "1.2", str(tmp_path / "src" / "1.2"))
    fake_loop.deployment = {"model_uuid": "uuid-11", "version": "1.1"}
    host = start_service(loop_url=fake_loop.api(), organization=ORG, project=PROJECT,
                         logic="fixed", model_poll_interval_s=0.1)
    url = f"http://127.0.0.1:{host.port}"

    def versions() -> dict:
        return requests.get(f"{url}/model_version", timeout=10).json()

    assert wait_for(lambda: versions()["current_version"] == "1.1")
    body = versions()
    assert body == {"current_version": "1.1", "target_version": "1.1", "loop_version": "1.1",
                    "local_versions": ["1.1"], "version_control": "follow_loop"}
    about = requests.get(f"{url}/about", timeout=10).json()
    assert about["state"] == "online" and about["target_model"] == "1.1"

    assert requests.put(f"{url}/model_version", data="pause", timeout=10).status_code == 200
    fake_loop.deployment = {"model_uuid": "uuid-12", "version": "1.2"}
    assert wait_for(lambda: versions()["loop_version"] == "1.2")
    assert versions()["current_version"] == "1.1", "pause must hold the model"

    assert requests.put(f"{url}/model_version", data="follow_loop", timeout=10).status_code == 200
    assert wait_for(lambda: versions()["current_version"] == "1.2")
    assert versions()["local_versions"] == ["1.1", "1.2"]

    assert requests.put(f"{url}/model_version", data="1.1", timeout=10).status_code == 200
    assert wait_for(lambda: versions()["current_version"] == "1.1")
    assert versions()["version_control"] == "specific_version"
    response = requests.put(f"{url}/model_version", data="7.0", timeout=10)
    assert response.status_code == 400 and "No Model with version 7.0" in response.json()["detail"]


def test_restart_resumes_the_current_model(start_service, tmp_path):
    models = tmp_path / "data" / "models"
    write_fixed_model(str(models / "1.0"), "1.0")
    write_fixed_model(str(models / "3.0"), "3.0")
    host = start_service(model_folder=str(models / "1.0"))
    host.call(host.service.set_model_version_mode("3.0"))
    assert wait_for(lambda: host.service.active.info.version == "3.0")
    host.stop()
    again = start_service()  # no model folder given: the current_model link decides
    assert again.service.active.info.version == "3.0"


def test_a_broken_model_keeps_the_old_one(start_service, tmp_path):
    models = tmp_path / "data" / "models"
    write_fixed_model(str(models / "1.0"), "1.0")
    (models / "2.0").mkdir(parents=True)
    (models / "2.0" / "model.json").write_text('{"id": "x"}')
    host = start_service(model_folder=str(models / "1.0"))
    host.call(host.service.set_model_version_mode("2.0"))
    assert wait_for(lambda: host.service.last_model_error is not None)
    assert "lacks" in host.service.last_model_error
    assert host.service.active.info.version == "1.0"


def test_no_model_yet_answers_503(start_service, fake_loop, red_disc_jpeg):
    host = start_service(loop_url=fake_loop.api(), organization=ORG, project=PROJECT,
                         logic="fixed", model_poll_interval_s=0.1)
    response = requests.post(f"http://127.0.0.1:{host.port}/detect",
                             files={"file": ("a.jpg", red_disc_jpeg)}, timeout=10)
    assert response.status_code == 503 and "not yet initialized" in response.json()["detail"]
    assert requests.get(f"http://127.0.0.1:{host.port}/model_version",
                        timeout=10).json()["current_version"] == "None"
