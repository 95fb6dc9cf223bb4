"""The generate-image API with aspect ratios, seeds and moderation: POST /v1/generate-image."""
