// The playground: a form over POST /v1/images/generations (streamed: previews, then each image), and
// the caller's stored images from GET /v1/images. Plain JavaScript, no build step, no outside requests.
"use strict";

const KEY_STORAGE = "t2i.apiKey";
const GALLERY_LIMIT = 48;
const MAX_RANDOM_SEED = 2 ** 31; // leaves room for seed + i below the API's 2^32 - 1

const $ = (id) => document.getElementById(id);

function authHeaders(extra = {}) {
  const key = $("api-key").value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

// The API's own words: `error.message` of the envelope {"error": {"code", "message", "param", "type"}}.
async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch (_) {
    // not JSON: fall through to the status line
  }
  return `HTTP ${response.status} ${response.statusText}`.trim();
}

// Server-Sent Events from a fetch() body (EventSource cannot POST): yields {type, data} per event.
async function* serverSentEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) yield { type, data: JSON.parse(data.join("\n")) };
    }
  }
}

function numberField(id) {
  const text = $(id).value.trim();
  return text === "" ? undefined : Number(text);
}

// The request body; empty optional fields are left out so the server's defaults apply.
function requestBody(seed) {
  const body = {
    prompt: $("prompt").value,
    model: $("model").value || undefined,
    size: $("size").value.trim() || undefined,
    n: numberField("count"),
    seed,
    steps: numberField("steps"),
    guidance_scale: numberField("guidance"),
    stream: true,
    partial_images: Number($("previews").value),
  };
  const negative = $("negative-prompt").value.trim();
  if (negative) body.negative_prompt = negative;
  return body;
}

function setStatus(text) {
  $("status").textContent = text;
}

function showError(message) {
  const error = $("error");
  error.textContent = message;
  error.hidden = !message;
}

function imageFigure(src, alt, caption, downloadName) {
  const figure = document.createElement("figure");
  const link = document.createElement("a");
  link.href = src;
  if (downloadName) link.download = downloadName;
  const img = document.createElement("img");
  img.src = src;
  img.alt = alt;
  link.append(img);
  const figcaption = document.createElement("figcaption");
  figcaption.textContent = caption;
  figure.append(link, figcaption);
  return figure;
}

let running = null; // the AbortController of the generation in flight

async function generate(event) {
  event.preventDefault();
  if (running) return;
  const typedSeed = numberField("seed");
  // A seed is chosen here when none is typed, so each image's seed (seed + i) can be shown.
  const seed = typedSeed ?? Math.floor(Math.random() * MAX_RANDOM_SEED);
  const body = requestBody(seed);
  const total = (body.partial_images || 0) + (body.n || 1);
  const progress = $("progress");
  const results = $("results");
  let received = 0;
  let images = 0;
  const started = performance.now();

  running = new AbortController();
  $("generate").disabled = true;
  $("stop").disabled = false;
  showError("");
  results.replaceChildren();
  $("preview").hidden = true;
  progress.hidden = false;
  progress.removeAttribute("value"); // indeterminate until the first event
  setStatus("Generating…");
  try {
    const response = await fetch("/v1/images/generations", {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify(body),
      signal: running.signal,
    });
    if (!response.ok) {
      showError(await errorMessage(response));
      setStatus(`Refused (HTTP ${response.status}).`);
      return;
    }
    for await (const { type, data } of serverSentEvents(response)) {
      if (type === "error") {
        showError(data.error ? data.error.message : "the generation failed");
        setStatus("The generation failed.");
        return;
      }
      const src = `data:image/${data.output_format || "png"};base64,${data.b64_json}`;
      received += 1;
      progress.value = received / total;
      if (type.endsWith(".partial_image")) {
        const index = data.partial_image_index + 1;
        $("preview-image").src = src;
        $("preview-caption").textContent = `preview ${index} of ${body.partial_images}`;
        $("preview").hidden = false;
        setStatus(`Generating… preview ${index} of ${body.partial_images}`);
      } else if (type.endsWith(".completed")) {
        const imageSeed = seed + images;
        images += 1;
        $("preview").hidden = true;
        results.append(
          imageFigure(src, `${body.prompt} (seed ${imageSeed})`, `seed ${imageSeed}`, `seed-${imageSeed}.png`),
        );
        setStatus(`Image ${images} of ${body.n || 1} done`);
      }
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    setStatus(`Done: ${images} image${images === 1 ? "" : "s"} in ${seconds} s`);
    loadGallery();
  } catch (err) {
    if (err.name === "AbortError") setStatus("Stopped.");
    else {
      showError(`Could not reach the server: ${err.message}`);
      setStatus("The request failed.");
    }
  } finally {
    running = null;
    if (received === 0) progress.hidden = true;
    $("generate").disabled = false;
    $("stop").disabled = true;
  }
}

function galleryItem(item) {
  const created = new Date(item.created * 1000).toLocaleString();
  const li = document.createElement("li");
  const figure = imageFigure(item.url, item.prompt, "", null);
  figure.querySelector("a").target = "_blank";
  figure.querySelector("img").loading = "lazy";
  const caption = figure.querySelector("figcaption");
  const prompt = document.createElement("span");
  prompt.className = "prompt";
  prompt.textContent = item.prompt;
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = `seed ${item.seed} · ${item.size} · ${created}`;
  meta.title = `id ${item.id}`;
  const reuse = document.createElement("button");
  reuse.type = "button";
  reuse.className = "link";
  reuse.textContent = "Reuse settings";
  reuse.setAttribute("aria-label", `Reuse the prompt, seed ${item.seed} and size of this image`);
  reuse.addEventListener("click", () => {
    $("prompt").value = item.prompt;
    $("negative-prompt").value = item.negative_prompt;
    $("seed").value = item.seed;
    $("size").value = item.size;
    $("prompt").focus();
  });
  caption.append(prompt, meta, reuse);
  li.dataset.imageId = item.id;
  li.append(figure);
  return li;
}

async function loadGallery() {
  const status = $("gallery-status");
  try {
    const response = await fetch(`/v1/images?limit=${GALLERY_LIMIT}`, { headers: authHeaders() });
    if (!response.ok) {
      status.textContent = await errorMessage(response);
      return;
    }
    const { data } = await response.json();
    $("gallery").replaceChildren(...data.map(galleryItem));
    status.textContent = data.length ? `${data.length} most recent` : "No images yet.";
  } catch (err) {
    status.textContent = `Could not reach the server: ${err.message}`;
  }
}

async function loadModelName() {
  try {
    const response = await fetch("/v1/models", { headers: authHeaders() });
    if (response.ok) {
      const { data } = await response.json();
      // Served models carry their facts; aliases only name the model they run (`root`).
      const served = data.filter((card) => card.id === card.root);
      if (served.length) $("model-name").textContent = `models: ${served.map((c) => c.id).join(", ")}`;
      const picker = $("model");
      const chosen = picker.value;
      picker.replaceChildren(new Option("default", ""));
      for (const card of served) {
        const size = card.size ? ` (${card.family}, ${card.size.native})` : "";
        picker.append(new Option(card.id + size, card.id, false, card.id === chosen));
      }
    }
  } catch (_) {
    // the header is decoration; the form reports real failures
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const key = $("api-key");
  const details = $("key-details");
  key.value = localStorage.getItem(KEY_STORAGE) || "";
  details.toggleAttribute("data-set", key.value !== "");
  key.addEventListener("change", () => {
    const value = key.value.trim();
    if (value) localStorage.setItem(KEY_STORAGE, value);
    else localStorage.removeItem(KEY_STORAGE);
    details.toggleAttribute("data-set", value !== "");
    loadGallery();
    loadModelName();
  });
  // Enter commits the key (blur fires "change") and closes the popover.
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    key.blur();
    details.open = false;
  });
  $("generate-form").addEventListener("submit", generate);
  $("stop").addEventListener("click", () => running && running.abort());
  $("refresh-gallery").addEventListener("click", loadGallery);
  // Ctrl/Cmd+Enter in the prompt generates, as in most playgrounds.
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("generate-form").requestSubmit();
  });
  loadModelName();
  loadGallery();
});
