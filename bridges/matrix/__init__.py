"""Matrix: the application-service client (ghosts, rooms, send, redact)."""
