"""The text-to-image API with reference images and an image store: POST /images/tti, GET /images/{id}."""
