"""Developer tooling: never part of the service or its image."""
