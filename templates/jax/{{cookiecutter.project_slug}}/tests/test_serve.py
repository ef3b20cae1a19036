{% if cookiecutter.task == "image" -%}
import base64
{% endif -%}
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.config import Config
from {{ cookiecutter.package_name }}.data import load_split
from {{ cookiecutter.package_name }}.serve import MAX_INSTANCES, create_app


@pytest.fixture(scope="module")
def client(export_dir: Path) -> TestClient:
    return TestClient(create_app(export_dir))


def valid_instances(config: Config, count: int) -> list[Any]:
    examples = load_split(config.data, "val")[:count]
{%- if cookiecutter.task == "image" %}
    return [{"image": base64.b64encode(e.image.read_bytes()).decode()} for e in examples]
{%- elif cookiecutter.task == "text" %}
    return [{"text": e.text} for e in examples]
{%- else %}

    def value(text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            return text

    return [{name: value(text) for name, text in e.features.items()} for e in examples]
{%- endif %}


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_predict_answers_valid_instances(client: TestClient, tiny_config: Config) -> None:
    response = client.post("/predict", json={"instances": valid_instances(tiny_config, 3)})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 3
    assert all("label" in p or "value" in p for p in predictions)


@pytest.mark.parametrize(
    "body",
    [
        {"instances": []},
        {"inputs": [1]},
        {"instances": [{"unexpected": True}]},
        {"instances": [None] * (MAX_INSTANCES + 1)},
    ],
)
def test_predict_rejects_malformed_bodies(client: TestClient, body: dict) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_predict_rejects_non_json(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    response = client.post("/predict", content=b"not json", headers=headers)
    assert response.status_code == 422
