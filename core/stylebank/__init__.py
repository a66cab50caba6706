"""stylebank."""
