"""Real backing services (PostgreSQL, Redis, an S3-compatible store) on loopback ports, for the tests and
benchmarks that run several frontend replicas. Imported from the repository root; not installed."""
