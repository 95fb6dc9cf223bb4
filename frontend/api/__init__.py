"""The public APIs: one package per API family (schema, translation, router), the account and system
routes, and the schema types they share."""
