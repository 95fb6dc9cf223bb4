"""`python -m testbed.playground_screenshot`: the README's picture of the playground, taken in Chromium.

Exports the default model (models/shapes) into a temporary folder, starts Triton and a frontend on free
loopback ports, generates a few images through the page as a user would, and saves a screenshot
(quantized to a palette to stay small). Everything is stopped afterwards."""

from __future__ import annotations

import argparse
import io
import logging
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, expect

from export.components import load_checkpoint
from export.repository import ExportOptions, fingerprint, write_model_repository
from t2i.triton_server import TritonServer
from testbed.browser import chromium_context
from testbed.frontend import free_port, frontend_process

logger = logging.getLogger(__name__)

SHAPES_MODEL = Path(__file__).resolve().parent.parent / "models" / "shapes"
GENERATION_TIMEOUT_MS = 120_000
# What the page is asked for: two earlier requests fill the gallery, the last one stays on screen.
REQUESTS = (
    ("a small yellow star on a black background", 11, 2),
    ("a green square on a white background", 21, 1),
    ("a red circle on a blue background", 42, 3),
)


def generate(page: Page, prompt: str, seed: int, count: int) -> None:
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Seed", exact=True).fill(str(seed))
    page.get_by_label("Count", exact=True).fill(str(count))
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#status")).to_contain_text("Done:", timeout=GENERATION_TIMEOUT_MS)


def take_screenshot(frontend_url: str, output: Path) -> None:
    with chromium_context(width=1280, height=900) as browser:
        page = browser.new_page()
        page.goto(frontend_url + "/")
        page.get_by_label("Size", exact=True).fill("256x256")
        for prompt, seed, count in REQUESTS:
            generate(page, prompt, seed, count)
        expect(page.locator("#gallery li")).to_have_count(sum(count for _, _, count in REQUESTS))
        page.wait_for_function(
            "() => [...document.images].every(i => i.hidden || (i.complete && i.naturalWidth > 0))"
        )
        picture = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    # A UI of flat colours keeps well in 256: a third of the bytes of the RGB screenshot.
    picture.convert("RGB").quantize(256).save(output, optimize=True)
    logger.info("wrote %s (%d KB)", output, output.stat().st_size // 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("docs/playground.png"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="t2i-screenshot-") as work:
        repository = Path(work) / "model_repository"
        options = ExportOptions()
        write_model_repository(
            load_checkpoint(SHAPES_MODEL), repository, options, fingerprint({"model": "shapes"}, options)
        )
        triton = TritonServer(
            repository, free_port(), work_dir=Path(work), log_file=Path(work) / "triton.log"
        )
        with triton:
            settings = {"T2I_RATE_LIMIT_PER_MINUTE": "0"}
            port = free_port()
            with frontend_process(triton.url, port, Path(work) / "data", settings):
                take_screenshot(f"http://127.0.0.1:{port}", args.output)


if __name__ == "__main__":
    main()
