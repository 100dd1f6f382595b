"""The Cognito user pool: the only place a password lives."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.errors import (
    InvalidCodeError,
    InvalidCredentialsError,
    PasswordPolicyError,
    RateLimitedError,
    UnauthorizedError,
)
from chalicelib.domain.passwords import check_password
from chalicelib.services.ports import Tokens

_CREDENTIAL_ERRORS = {
    "NotAuthorizedException",
    "UserNotFoundException",
    "UserNotConfirmedException",
}
_CODE_ERRORS = {"CodeMismatchException", "ExpiredCodeException"}
_THROTTLED = {
    "TooManyRequestsException",
    "LimitExceededException",
    "TooManyFailedAttemptsException",
}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _policy_error(password: str, exc: ClientError) -> PasswordPolicyError:
    """Cognito refused a password our own check let through: still name the rules."""
    try:
        check_password(password)
    except PasswordPolicyError as named:
        return named
    return PasswordPolicyError(
        "Das Passwort wurde nicht angenommen. Es braucht mindestens 12 Zeichen, je einen "
        "Klein- und Großbuchstaben (a–z, A–Z) und eine Ziffer (0–9), darf nicht mit einem "
        "Leerzeichen beginnen oder enden und keine Steuerzeichen enthalten."
    )


def _tokens(result: dict[str, Any], refresh_token: str | None) -> Tokens:
    return Tokens(
        access_token=result["AccessToken"],
        id_token=result["IdToken"],
        refresh_token=result.get("RefreshToken", refresh_token),
        expires_in=int(result.get("ExpiresIn", 3600)),
    )


class CognitoUserDirectory:
    """UserDirectory on a Cognito user pool (e-mail is the username)."""

    def __init__(self, client: Any, pool_id: str, client_id: str) -> None:
        self._client = client
        self._pool_id = pool_id
        self._client_id = client_id

    def create_user(self, email: str, password: str) -> str:
        try:
            self._client.admin_create_user(
                UserPoolId=self._pool_id,
                Username=email,
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                ],
                MessageAction="SUPPRESS",
            )
        except ClientError as exc:
            # An accept interrupted after this step left the user behind; finish it.
            if _code(exc) != "UsernameExistsException":
                raise
        try:
            self._client.admin_set_user_password(
                UserPoolId=self._pool_id, Username=email, Password=password, Permanent=True
            )
        except ClientError as exc:
            if _code(exc) == "InvalidPasswordException":
                raise _policy_error(password, exc) from exc
            raise
        user = self._client.admin_get_user(UserPoolId=self._pool_id, Username=email)
        attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        return str(attributes.get("sub") or user["Username"])

    def login(self, email: str, password: str) -> Tokens:
        try:
            response = self._client.initiate_auth(
                ClientId=self._client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        except ClientError as exc:
            if _code(exc) in _CREDENTIAL_ERRORS:
                raise InvalidCredentialsError() from exc
            if _code(exc) in _THROTTLED:
                raise RateLimitedError() from exc
            raise
        result = response.get("AuthenticationResult")
        if not result:
            raise InvalidCredentialsError()  # a challenge we do not offer
        return _tokens(result, None)

    def refresh(self, refresh_token: str) -> Tokens:
        try:
            response = self._client.initiate_auth(
                ClientId=self._client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        except ClientError as exc:
            if _code(exc) in _CREDENTIAL_ERRORS:
                raise InvalidCredentialsError() from exc
            raise
        return _tokens(response["AuthenticationResult"], None)

    def logout(self, access_token: str) -> None:
        try:
            self._client.global_sign_out(AccessToken=access_token)
        except ClientError as exc:
            if _code(exc) in _CREDENTIAL_ERRORS:
                raise UnauthorizedError() from exc
            raise

    def forgot_password(self, email: str) -> None:
        try:
            self._client.forgot_password(ClientId=self._client_id, Username=email)
        except ClientError as exc:
            # PreventUserExistenceErrors hides unknown users in AWS; be as quiet everywhere.
            if _code(exc) in _CREDENTIAL_ERRORS | {"ResourceNotFoundException"}:
                return
            if _code(exc) in _THROTTLED:
                raise RateLimitedError() from exc
            raise

    def reset_password(self, email: str, code: str, password: str) -> None:
        try:
            self._client.confirm_forgot_password(
                ClientId=self._client_id, Username=email, ConfirmationCode=code, Password=password
            )
        except ClientError as exc:
            if _code(exc) in _CODE_ERRORS | _CREDENTIAL_ERRORS | {"ResourceNotFoundException"}:
                raise InvalidCodeError() from exc
            if _code(exc) == "InvalidPasswordException":
                raise _policy_error(password, exc) from exc
            if _code(exc) in _THROTTLED:
                raise RateLimitedError() from exc
            raise
