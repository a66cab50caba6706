"""gatys."""
