"""End-to-end: gunicorn processes, `make run`, images and the browser."""
