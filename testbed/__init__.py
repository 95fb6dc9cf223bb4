"""Processes the tests and benchmarks start on loopback ports: the frontend (frontend.py), and the real
services a scaled-out frontend uses (services.py: PostgreSQL, Redis, an S3-compatible store). Not
installed with the project: imported from the repository root."""
