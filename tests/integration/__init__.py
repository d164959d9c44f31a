"""The integration tier: a real PostgreSQL and/or the tansu broker, the apps in-process."""
