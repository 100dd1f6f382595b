"""The portal's HTTP API (one Lambda): registers the blueprints; no I/O at import."""

from chalice.app import Chalice

from chalicelib.api import account, auth, http, observability, payments, public

app = Chalice(app_name="sides-portal")

for blueprint in (public.bp, auth.bp, account.bp, payments.bp):
    app.register_blueprint(blueprint, url_prefix="/api")

app.register_middleware(http.contract_errors, "http")
observability.install(app)
