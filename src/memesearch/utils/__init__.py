"""Small helpers shared across memesearch (device selection, ...); heavy dependencies are imported lazily."""
