"""Request and response bodies of the tasks API by feature (pydantic v2), described once."""
