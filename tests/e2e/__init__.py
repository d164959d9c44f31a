"""The end-to-end tier: gunicorn processes, `make run`, the image install, the browser."""
