"""TaskFlow's functions: one package per trigger, each exposing create_app(settings=None)."""
