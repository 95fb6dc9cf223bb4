"""The OpenAI-compatible images API: POST /v1/images/generations, GET /v1/models."""
