"""The local AWS stand-in: one moto server process, with Cognito's e-mail delivery emulated.

A few behaviours are brought closer to AWS here, in the stand-in, never in the app.

moto hands forgot-password codes back in a response header and accepts any code that
does not look like its own. Real Cognito e-mails the code and rejects wrong ones, so this
process makes moto do the same: the code goes out as an e-mail (readable with
`portal outbox`) and only that code resets the password.

For software-token MFA (TOTP) moto gives every user one fixed secret and accepts a code
any number of times; here each user gets a secret of its own and each code counts once.
moto also files tokens under the e-mail typed at sign-in, so a changed e-mail would end
them; here, as in Cognito, they belong to the user.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

RESET_TEXT = (
    "Hallo,\n\n"
    "du hast ein neues Passwort für das SIDES Kundenportal angefordert.\n\n"
    "Dein Code lautet: {code}\n\n"
    "Gib ihn im Portal zusammen mit deinem neuen Passwort ein. Wenn du das nicht warst, "
    "ignoriere diese E-Mail einfach.\n\n"
    "Viele Grüße\nDein SIDES-Team\n"
)


def _pool_of(backend: Any, client_id: str) -> Any:
    for pool in backend.user_pools.values():
        if client_id in pool.clients:
            return pool
    return None


def patch_cognito(mail_from: str) -> None:
    from moto.cognitoidp import exceptions
    from moto.cognitoidp.models import CognitoIdpBackend
    from moto.ses.models import ses_backends

    original_forgot = CognitoIdpBackend.forgot_password

    def forgot_password(self: Any, client_id: str, username: str) -> Any:
        _, details = original_forgot(self, client_id, username)
        pool = _pool_of(self, client_id)
        user = pool._get_user(username) if pool else None
        if user is None:
            return None, details
        code = f"{100000 + secrets.randbelow(900000)}"
        user.confirmation_code = code
        message = EmailMessage()
        message["From"] = f"SIDES Kundenportal <{mail_from}>"
        message["To"] = username
        message["Subject"] = "Dein Code für ein neues Passwort"
        message["Date"] = format_datetime(datetime.now(UTC))
        message.set_content(RESET_TEXT.format(code=code))
        ses = ses_backends[self.account_id][self.region_name]
        ses.send_raw_email(mail_from, [], message.as_string())
        return None, details  # the code travels by e-mail only, as in AWS

    def confirm_forgot_password(
        self: Any, client_id: str, username: str, password: str, confirmation_code: str
    ) -> None:
        pool = _pool_of(self, client_id)
        if pool is None:
            raise exceptions.ResourceNotFoundError(client_id)
        user = pool._get_user(username)
        if (
            user is None
            or not user.confirmation_code
            or not secrets.compare_digest(user.confirmation_code, confirmation_code)
        ):
            raise exceptions.CodeMismatchException("Invalid verification code provided.")
        self._validate_password(pool.id, password)
        user.password = password
        user.confirmation_code = None

    original_sign_out = CognitoIdpBackend.global_sign_out

    def global_sign_out(self: Any, access_token: str) -> None:
        # GlobalSignOut is unsigned; AWS finds the region in the host name, which a loopback
        # endpoint lacks, so moto would look in its default region only.
        from moto.cognitoidp.models import cognitoidp_backends

        for backend in list(cognitoidp_backends[self.account_id].values()):
            if any(access_token in pool.access_tokens for pool in backend.user_pools.values()):
                return original_sign_out(backend, access_token)
        return original_sign_out(self, access_token)

    patch_software_tokens()
    patch_token_usernames()
    CognitoIdpBackend.global_sign_out = global_sign_out  # type: ignore[method-assign]
    CognitoIdpBackend.forgot_password = forgot_password  # type: ignore[method-assign]
    CognitoIdpBackend.confirm_forgot_password = confirm_forgot_password  # type: ignore[method-assign]


def _totp_matches(secret: str | None, used: set[int], code: str) -> bool:
    """The user's own secret, the current 30-second step or its neighbours, each code once
    (Cognito refuses a code that was already used)."""
    from cryptography.hazmat.primitives.twofactor import InvalidToken
    from moto.cognitoidp.utils import cognito_totp

    if not secret or not code.isdigit() or len(code) != 6:
        return False
    totp = cognito_totp(secret)
    step = int(time.time()) // 30
    for candidate in (step - 1, step, step + 1):
        try:
            totp.verify(code.encode("ascii"), candidate * 30)
        except InvalidToken:
            continue
        if candidate in used:
            return False
        used.add(candidate)
        return True
    return False


def _user_of_token(backend: Any, access_token: str) -> Any:
    from moto.cognitoidp import exceptions

    for pool in backend.user_pools.values():
        if access_token in pool.access_tokens:
            _, username = pool.access_tokens[access_token]
            return backend.admin_get_user(pool.id, username)
    raise exceptions.NotAuthorizedError(access_token)


def patch_software_tokens() -> None:
    """moto hands every user the same TOTP secret and accepts a code again and again.
    Cognito gives each association its own secret and takes each code once; so here."""
    import base64

    from moto.cognitoidp import exceptions
    from moto.cognitoidp.models import CognitoIdpBackend

    def associate_software_token(self: Any, access_token: str, session: str) -> Any:
        user = _user_of_token(self, access_token)
        secret = base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")
        user.pending_totp_secret = secret
        return {"SecretCode": secret}

    def verify_software_token(
        self: Any, access_token: str, session: str, user_code: str, friendly_device_name: str
    ) -> Any:
        user = _user_of_token(self, access_token)
        # A new association is confirmed with its code; without one, the active secret's.
        pending = getattr(user, "pending_totp_secret", None) or getattr(user, "totp_secret", None)
        if not pending:
            raise exceptions.InvalidParameterException("No software token was associated.")
        used: set[int] = user.__dict__.setdefault("totp_used", set())
        if not _totp_matches(pending, used, user_code):
            raise exceptions.CodeMismatchException("Code mismatch")
        user.totp_secret = pending
        user.pending_totp_secret = None
        user.token_verified = True
        return {"Status": "SUCCESS"}

    original_respond = CognitoIdpBackend.respond_to_auth_challenge

    def respond_to_auth_challenge(
        self: Any,
        session: str,
        client_id: str,
        challenge_name: str,
        challenge_responses: dict[str, str],
    ) -> Any:
        if challenge_name == "SOFTWARE_TOKEN_MFA" and session in self.sessions:
            username, pool = self.sessions[session]
            user = pool._get_user(username)
            if user is None or not _totp_matches(
                getattr(user, "totp_secret", None),
                user.__dict__.setdefault("totp_used", set()),
                challenge_responses.get("SOFTWARE_TOKEN_MFA_CODE", ""),
            ):
                raise exceptions.CodeMismatchException("Invalid code received for user")
            del self.sessions[session]
            return self._log_user_in(pool, pool.clients[client_id], username)
        return original_respond(self, session, client_id, challenge_name, challenge_responses)

    CognitoIdpBackend.associate_software_token = associate_software_token  # type: ignore[method-assign]
    CognitoIdpBackend.verify_software_token = verify_software_token  # type: ignore[method-assign]
    CognitoIdpBackend.respond_to_auth_challenge = respond_to_auth_challenge  # type: ignore[method-assign]


def patch_token_usernames() -> None:
    """With e-mail as the sign-in alias, Cognito's tokens belong to the user (its internal
    username), so they stay valid when the e-mail changes. moto files them under the alias
    typed at sign-in, which a changed e-mail no longer finds; here they are filed under the
    user, and tokens still name the user's current e-mail."""
    from moto.cognitoidp.models import CognitoIdpUserPool
    from moto.cognitoidp.utils import flatten_attrs

    def internal(pool: Any, username: str) -> str:
        user = pool._get_user(username)
        return str(user.username) if user is not None else username

    original_jwt = CognitoIdpUserPool.create_jwt

    def create_jwt(self: Any, client_id: str, username: str, *args: Any, **kwargs: Any) -> Any:
        user = self.users.get(username)
        if user is not None and self.extended_config.get("UsernameAttributes"):
            username = flatten_attrs(user.attributes).get("email", username)
        return original_jwt(self, client_id, username, *args, **kwargs)

    original_refresh = CognitoIdpUserPool.create_refresh_token

    def create_refresh_token(self: Any, client_id: str, username: str) -> Any:
        return original_refresh(self, client_id, internal(self, username))

    original_access = CognitoIdpUserPool.create_access_token

    def create_access_token(self: Any, client_id: str, username: str, origin_jti: str) -> Any:
        user = internal(self, username)
        token, expires_in = original_access(self, client_id, user, origin_jti)
        return token, expires_in

    CognitoIdpUserPool.create_jwt = create_jwt  # type: ignore[method-assign]
    CognitoIdpUserPool.create_refresh_token = create_refresh_token  # type: ignore[method-assign]
    CognitoIdpUserPool.create_access_token = create_access_token  # type: ignore[method-assign]


def serialize_dynamodb_writes() -> None:
    """DynamoDB decides conditional writes to an item one at a time; the moto server checks
    the condition and writes without a lock, so two racing requests could both pass.
    One lock around every write makes races here end as they do in AWS."""
    import functools

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(locked))


OUTBOX_PATH = "/_local/outbox"


def sent_raw_messages() -> list[str]:
    """Every raw e-mail SES on moto sent, oldest first (all accounts and regions)."""
    from moto.ses.models import ses_backends

    found: list[str] = []
    for regions in ses_backends.values():
        for backend in regions.values():
            found.extend(
                m.raw_data
                for m in backend.sent_messages
                if isinstance(getattr(m, "raw_data", None), str)
            )
    return found


def _outbox_app(app: Any) -> Any:
    """moto's app plus one read-only route for the outbox: the mails alone, not moto's whole
    state (`/moto-api/data.json` serializes every backend and grows with every PDF stored)."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == OUTBOX_PATH and environ.get("REQUEST_METHOD") == "GET":
            body = json.dumps({"messages": sent_raw_messages()}).encode("utf-8")
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return app(environ, start_response)

    return wsgi


def _server_with_outbox(port: int) -> Any:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class WithOutbox(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = _outbox_app(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return WithOutbox(ip_address="127.0.0.1", port=port, verbose=False)


def serve(port: int, mail_from: str) -> None:
    import os

    # Software-token MFA (TOTP) as in Cognito; moto checks codes only with this set.
    os.environ.setdefault("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")

    patch_cognito(mail_from)
    serialize_dynamodb_writes()
    server = _server_with_outbox(port)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="moto server for the local stack")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mail-from", default="portal@sides.example")
    args = parser.parse_args()
    serve(args.port, args.mail_from)


if __name__ == "__main__":
    main()
