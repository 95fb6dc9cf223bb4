"""The playground at `/` and the docs at /docs and /redoc, in a real browser (Debian's Chromium driven by
Playwright) against the real stack. Every wait is on something the page shows or a network event, each
bounded; no request may leave 127.0.0.1."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect

from t2i.triton_server import TritonServer
from testbed.browser import chromium_context, outside_loopback
from tests.e2e.conftest import Frontend, running_frontend

pytestmark = pytest.mark.e2e

# A generation of the tiny model on 2 cores takes a few seconds; the first one also warms Triton up.
GENERATION_TIMEOUT_MS = 90_000
PNG_DATA_URL = "data:image/png;base64,"

# Records what the page does while it generates: each src given to the preview <img> and each value of
# the progress bar (MutationObserver records every change, however quickly the next one follows).
RECORD_PAGE_UPDATES = """() => {
    window.seen = {previews: [], progress: []};
    const preview = document.getElementById("preview-image");
    const progress = document.getElementById("progress");
    new MutationObserver(() => window.seen.previews.push(preview.getAttribute("src")))
        .observe(preview, {attributeFilter: ["src"]});
    new MutationObserver(() => window.seen.progress.push(progress.getAttribute("value")))
        .observe(progress, {attributeFilter: ["value"]});
}"""
# True once every <img> matched has loaded a picture (naturalWidth is 0 for a broken or pending image).
ALL_LOADED = "images => images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0)"


@dataclass
class BrowserPage:
    page: Page
    requests: list[str] = field(default_factory=list)  # every request the page made, by URL
    refused_by_policy: list[str] = field(default_factory=list)  # blocked by the page's CSP: never sent

    def sent_outside_loopback(self) -> list[str]:
        """What left (or would have left) 127.0.0.1, waiting first until the page's network is idle."""
        self.page.wait_for_load_state("networkidle")
        return [url for url in outside_loopback(self.requests) if url not in self.refused_by_policy]


@pytest.fixture(scope="module")
def open_frontend(
    triton_server: TritonServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Frontend]:
    """Open mode, no rate limit: the playground as `make serve` runs it."""
    settings = {"T2I_RATE_LIMIT_PER_MINUTE": "0"}
    with running_frontend(triton_server.url, tmp_path_factory.mktemp("playground"), settings) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with chromium_context() as context:
        yield context


@pytest.fixture
def tab(browser: BrowserContext) -> Iterator[BrowserPage]:
    """A new page whose every request (documents, scripts, fetches, images) is recorded, and which of
    them its Content-Security-Policy refused (the browser never sends those)."""
    page = browser.new_page()
    recorded = BrowserPage(page)
    page.on("request", lambda request: recorded.requests.append(request.url))
    page.on(
        "requestfailed",
        lambda request: request.failure == "csp" and recorded.refused_by_policy.append(request.url),
    )
    try:
        yield recorded
    finally:
        page.close()


def png_size(data_url: str) -> tuple[int, int]:
    assert data_url.startswith(PNG_DATA_URL), data_url[:40]
    image = Image.open(io.BytesIO(base64.b64decode(data_url.removeprefix(PNG_DATA_URL))))
    assert image.format == "PNG"
    return image.size


def test_generates_with_previews_and_progress_then_lists_the_images(
    tab: BrowserPage, open_frontend: Frontend
) -> None:
    page = tab.page
    page.goto(open_frontend.url + "/")
    expect(page.locator("#model-name")).to_have_text("models: tiny")
    # The model picker lists the served models (from GET /v1/models) after the server's default.
    expect(page.locator("#model option")).to_have_text(["default", "tiny (sd, 256x256)"])
    page.get_by_label("Prompt", exact=True).fill("a red circle on a blue background")
    page.get_by_label("Size", exact=True).fill("256x192")
    page.get_by_label("Seed", exact=True).fill("7")
    page.get_by_label("Steps", exact=True).fill("6")
    page.get_by_label("Count", exact=True).fill("2")
    page.get_by_label("Previews", exact=True).select_option("2")
    page.evaluate(RECORD_PAGE_UPDATES)

    with page.expect_response("**/v1/images/generations", timeout=GENERATION_TIMEOUT_MS) as answer:
        page.get_by_role("button", name="Generate").click()
    assert answer.value.status == 200
    assert answer.value.headers["content-type"].startswith("text/event-stream")
    expect(page.locator("#status")).to_contain_text("Done: 2 images", timeout=GENERATION_TIMEOUT_MS)

    # The two images as the page shows them: loaded PNGs at the size asked for, each with its seed.
    results = page.locator("#results figure")
    expect(results).to_have_count(2)
    expect(results.locator("figcaption")).to_have_text(["seed 7", "seed 8"])
    page.wait_for_function(f"() => ({ALL_LOADED})([...document.querySelectorAll('#results img')])")
    sizes = page.eval_on_selector_all(
        "#results img", "images => images.map(i => [i.naturalWidth, i.naturalHeight])"
    )
    assert sizes == [[256, 192], [256, 192]]

    # While it ran: both previews shown (real PNGs), the progress bar advancing to full.
    seen = page.evaluate("window.seen")
    assert [png_size(src) for src in seen["previews"]] == [(256, 192), (256, 192)]
    progress = [float(value) for value in seen["progress"] if value is not None]
    assert progress == sorted(progress) and len(progress) == 4 and progress[-1] == 1.0

    # The gallery (GET /v1/images) lists both, newest first, loaded through their signed links.
    gallery = page.locator("#gallery li")
    expect(gallery).to_have_count(2)
    expect(gallery.locator(".meta")).to_contain_text(["seed 8 · 256x192", "seed 7 · 256x192"])
    expect(gallery.first.locator(".prompt")).to_have_text("a red circle on a blue background")
    page.wait_for_function(f"() => ({ALL_LOADED})([...document.querySelectorAll('#gallery img')])")
    assert tab.sent_outside_loopback() == []


def test_a_bad_field_shows_the_api_error_message(tab: BrowserPage, open_frontend: Frontend) -> None:
    body = {"prompt": "a star", "size": "5000x5000", "stream": True, "partial_images": 2}
    refused = httpx.post(f"{open_frontend.url}/v1/images/generations", json=body, timeout=30)
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]

    page = tab.page
    page.goto(open_frontend.url + "/")
    page.get_by_label("Prompt", exact=True).fill("a star")
    page.get_by_label("Size", exact=True).fill("5000x5000")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("alert")).to_have_text(message)
    expect(page.locator("#results figure")).to_have_count(0)
    assert tab.sent_outside_loopback() == []


def test_the_api_key_is_sent_and_kept_in_local_storage(tab: BrowserPage, frontend: Frontend) -> None:
    page = tab.page
    page.goto(frontend.url + "/")
    # A server with keys refuses the gallery without one, in the API's words.
    expect(page.locator("#gallery-status")).to_have_text(
        "missing API key: send 'Authorization: Bearer <key>'"
    )
    page.get_by_text("API key", exact=True).click()
    with page.expect_response(lambda response: "/v1/images?limit=" in response.url) as listing:
        page.get_by_label("API key (servers with keys only)").fill(frontend.keys["alice"])
        page.get_by_label("API key (servers with keys only)").press("Enter")
    assert listing.value.status == 200
    assert listing.value.request.all_headers()["authorization"] == f"Bearer {frontend.keys['alice']}"
    expect(page.locator("#gallery-status")).not_to_contain_text("API key")

    page.reload()
    assert page.evaluate("localStorage.getItem('t2i.apiKey')") == frontend.keys["alice"]
    expect(page.get_by_label("API key (servers with keys only)")).to_have_value(frontend.keys["alice"])
    expect(page.locator("#model-name")).to_have_text("models: tiny")
    assert tab.sent_outside_loopback() == []


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        # Swagger UI's operation list, with the OpenAI route among the operations.
        ("/docs", ".opblock-summary-path[data-path='/v1/images/generations']"),
        # ReDoc's rendered operation for the same route.
        ("/redoc", "[data-section-id*='operation/create_images']"),
    ],
)
def test_docs_render_from_local_assets_only(
    tab: BrowserPage, open_frontend: Frontend, path: str, rendered: str
) -> None:
    page = tab.page
    page.goto(open_frontend.url + path)
    expect(page.locator(rendered).first).to_be_visible()
    assert tab.sent_outside_loopback() == []
    assert any(url.endswith("/openapi.json") for url in tab.requests)
    # ReDoc's sidebar credit is an <img> from its CDN: the page's policy refused it before it was sent.
    assert set(outside_loopback(tab.requests)) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}
