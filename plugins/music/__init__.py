"""Music plugin (placeholder while building)."""
