"""The portal's HTTP API (one Lambda): registers the blueprints; no I/O at import."""

from chalice.app import Chalice

from chalicelib.api import (
    account,
    auth,
    documents,
    edge,
    http,
    observability,
    openapi,
    payments,
    public,
)

app = Chalice(app_name="sides-portal")

for blueprint in (public.bp, auth.bp, account.bp, payments.bp, documents.bp, openapi.bp):
    app.register_blueprint(blueprint, url_prefix="/api")

app.register_middleware(http.contract_errors, "http")
observability.install(app)
# innermost: a request that did not come through the CDN reaches no route
app.register_middleware(edge.origin_guard, "http")
