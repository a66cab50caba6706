"""analogy."""
