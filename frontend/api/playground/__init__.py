"""The web playground at `/`: a page of plain HTML, CSS and JavaScript (no build step) over the public
API: POST /v1/images/generations streamed, GET /v1/images for the gallery, GET /v1/models."""
