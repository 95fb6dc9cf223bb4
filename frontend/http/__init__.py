"""HTTP plumbing shared by every route: the error mapping, the body limit, metrics, dependencies."""
