"""Processes the tests and benchmarks start on loopback ports: the frontend, and the services a
scaled-out frontend uses. Not installed with the project: imported from the repository root."""
