"""In-process client (Controller), the twin of the server."""
