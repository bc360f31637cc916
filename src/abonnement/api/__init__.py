"""The REST API (FastAPI): `abonnement serve`, or `abonnement.api.app:create_app` in any ASGI
server. Routers are thin: each request authenticates its key and runs one use case."""
