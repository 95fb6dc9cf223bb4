"""Several served models behind one frontend (a fake Triton client serving two): `model` routes each
request, the default and the aliases, the 400 for an unknown name, GET /v1/models' facts, /images/tti's
`provider`, and the catalogue following what Triton serves without a restart. The end-to-end tier runs a
real repository of three models."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from frontend.generation.catalogue import Catalogue
from frontend.settings import Settings
from tests.unit.conftest import TINY, FakeTriton, make_client

WIDE = dataclasses.replace(TINY, name="wide", family="sdxl", native_width=512, native_height=256, hd_steps=60)


@pytest.fixture
def triton() -> FakeTriton:
    return FakeTriton(TINY, WIDE)


def generate(client: TestClient, **body: object) -> dict:
    response = client.post("/v1/images/generations", json={"prompt": "a red circle", "steps": 1} | body)
    assert response.status_code == 200, response.text
    return response.json()


def test_model_routes_each_request_to_its_served_model(client: TestClient, triton: FakeTriton) -> None:
    assert generate(client, model="wide", size="auto")["size"] == "512x256"  # wide's native size
    assert generate(client, model="tiny", size="auto")["size"] == "256x256"
    assert [r.model for r in triton.requests] == ["wide", "tiny"]
    # Defaults come from the model asked for: wide's hd steps.
    generate(client, model="wide", quality="high", steps=None)
    assert triton.requests[-1].steps == WIDE.hd_steps
    assert generate(client, model="wide")["usage"]["model_used"] == "wide"


def test_the_default_model_serves_requests_naming_none_and_the_openai_names(
    client: TestClient, triton: FakeTriton
) -> None:
    generate(client)
    generate(client, model="dall-e-3")
    assert [r.model for r in triton.requests] == ["tiny", "tiny"]  # the first by name


def test_default_and_aliases_from_the_environment(
    tmp_path: Path, triton: FakeTriton, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T2I_DEFAULT_MODEL", "wide")
    monkeypatch.setenv("T2I_MODEL_ALIASES", json.dumps({"dall-e-2": "tiny", "dall-e-3": "*", "gone": "sd35"}))
    with make_client(tmp_path, triton) as client:
        for model in (None, "dall-e-2", "dall-e-3"):
            generate(client, model=model)
        assert [r.model for r in triton.requests] == ["wide", "tiny", "wide"]
        cards = client.get("/v1/models").json()["data"]
        assert [(c["id"], c["root"]) for c in cards] == [
            ("tiny", "tiny"),
            ("wide", "wide"),
            ("dall-e-2", "tiny"),
            ("dall-e-3", "wide"),
        ]  # an alias of a model not served is left out


def test_unknown_model_is_400_naming_the_served_models(client: TestClient, triton: FakeTriton) -> None:
    response = client.post("/v1/images/generations", json={"prompt": "x", "model": "flux-schnell"})
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == "model"
    assert "served models: tiny, wide" in error["message"]
    assert triton.requests == []


def test_models_list_each_served_model_with_its_facts(client: TestClient) -> None:
    cards = {c["id"]: c for c in client.get("/v1/models").json()["data"]}
    assert cards["wide"]["family"] == "sdxl" and cards["wide"]["size"]["native"] == "512x256"
    assert cards["wide"]["hd_steps"] == 60 and "euler" in cards["wide"]["schedulers"]
    assert cards["tiny"]["capabilities"]["inpainting"] == "latent-blending"
    assert client.get("/v1/models/wide").json()["family"] == "sdxl"


def test_limits_are_each_models_own(client: TestClient, triton: FakeTriton) -> None:
    narrow = dataclasses.replace(WIDE, name="narrow", max_side=512)
    triton.models["narrow"] = narrow
    response = client.post(
        "/v1/images/generations", json={"prompt": "x", "model": "narrow", "size": "1024x1024", "steps": 1}
    )
    assert response.status_code == 200  # 1024x1024 is generated at the model's area, within 512
    too_wide = client.post("/images/tti", json={"prompt": "x", "provider": "narrow", "size": "2048x2048"})
    assert too_wide.status_code == 400 and "512" in too_wide.json()["error"]["message"]


def test_tti_provider_names_the_model(client: TestClient, triton: FakeTriton) -> None:
    for provider in ("wide", "auto", "triton", "tiny"):
        response = client.post("/images/tti", json={"prompt": "x", "provider": provider})
        assert response.status_code == 200, response.text
    assert [r.model for r in triton.requests] == ["wide", "tiny", "tiny", "tiny"]
    refused = client.post("/images/tti", json={"prompt": "x", "provider": "sd35"})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "provider"


def test_a_model_unloaded_in_triton_goes_without_a_restart(client: TestClient, triton: FakeTriton) -> None:
    generate(client, model="wide")
    del triton.models["wide"]
    response = client.post("/v1/images/generations", json={"prompt": "x", "model": "wide"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "model"
    assert [c["id"] for c in client.get("/v1/models").json()["data"]][:1] == ["tiny"]
    triton.models["wide"] = WIDE
    generate(client, model="wide")


def test_catalogue_of_nothing_served_names_none() -> None:
    catalogue = Catalogue.of({}, Settings())
    assert catalogue.default == "" and catalogue.aliases == {}
    with pytest.raises(Exception, match="none right now"):
        catalogue.resolve(None)


def test_each_model_has_its_own_price(
    tmp_path: Path, triton: FakeTriton, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T2I_PRICE_TABLE", json.dumps({"wide": 0.5}))
    with make_client(tmp_path, triton) as client:
        wide = generate(client, model="wide", size="auto")["usage"]
        tiny = generate(client, model="tiny", size="auto")["usage"]
        rows = client.get("/v1/usage").json()["data"]
    assert wide["cost"] == round(0.5 * 512 * 256 / 1e6 * 1, 6) and tiny["cost"] == 0.0
    assert sorted((row["model"], row["cost"]) for row in rows) == [("tiny", 0.0), ("wide", wide["cost"])]
