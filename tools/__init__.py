"""Developer tools run through the justfile; not part of the service."""
