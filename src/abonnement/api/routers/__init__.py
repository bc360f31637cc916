"""The /v1 routers, one per resource."""

#: The version prefix every router's paths carry (the app adds their routes to its own router
#: as they are: see `api.app._add_routes`).
V1 = "/v1"
