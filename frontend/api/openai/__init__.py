"""The OpenAI-compatible images API: POST /v1/images/generations, /v1/images/edits,
/v1/images/variations, GET /v1/models."""
