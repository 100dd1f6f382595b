"""The Cognito user pool: the only place a password lives."""

from __future__ import annotations

import base64
import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.account import MfaRequired
from chalicelib.domain.errors import (
    EmailInUseError,
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
_MFA_ERRORS = {"EnableSoftwareTokenMFAException", "InvalidUserPoolConfigurationException"}
_SESSION_ERRORS = {"ResourceNotFoundException", "InvalidParameterException", "ExpiredCodeException"}
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


def _mfa_session(email: str, session: str) -> str:
    """The session handed to the page: Cognito's session and the sign-in name it belongs
    to (RespondToAuthChallenge needs both). Tampering only makes Cognito refuse it."""
    raw = json.dumps({"u": email, "s": session}, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _from_mfa_session(session: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(session + "=" * (-len(session) % 4)))
        email, inner = data["u"], data["s"]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidCredentialsError() from exc
    # Cognito's own bounds (a session has 20 to 2048 characters)
    if not isinstance(email, str) or not isinstance(inner, str) or not 20 <= len(inner) <= 2048:
        raise InvalidCredentialsError()
    if not 1 <= len(email) <= 254:
        raise InvalidCredentialsError()
    return email, inner


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
        if not result and response.get("ChallengeName") == "SOFTWARE_TOKEN_MFA":
            raise MfaRequired(_mfa_session(email, str(response["Session"])))
        if not result:
            raise InvalidCredentialsError()  # a challenge we do not offer
        return _tokens(result, None)

    def login_mfa(self, session: str, code: str) -> Tokens:
        """The second step of a sign-in with a one-time code."""
        email, cognito_session = _from_mfa_session(session)
        if not (code.isdigit() and len(code) == 6):
            raise InvalidCredentialsError()
        try:
            response = self._client.respond_to_auth_challenge(
                ClientId=self._client_id,
                ChallengeName="SOFTWARE_TOKEN_MFA",
                Session=cognito_session,
                ChallengeResponses={"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": code},
            )
        except ClientError as exc:
            # an expired, used or made-up session is a failed sign-in like a wrong code
            if _code(exc) in _CREDENTIAL_ERRORS | _CODE_ERRORS | _MFA_ERRORS | _SESSION_ERRORS:
                raise InvalidCredentialsError() from exc
            if _code(exc) in _THROTTLED:
                raise RateLimitedError() from exc
            raise
        result = response.get("AuthenticationResult")
        if not result:
            raise InvalidCredentialsError()
        return _tokens(result, None)

    def change_password(self, access_token: str, current: str, new: str) -> None:
        try:
            self._client.change_password(
                AccessToken=access_token, PreviousPassword=current, ProposedPassword=new
            )
        except ClientError as exc:
            if _code(exc) == "InvalidPasswordException":
                raise _policy_error(new, exc) from exc
            if _code(exc) in _CREDENTIAL_ERRORS:
                raise InvalidCredentialsError() from exc
            if _code(exc) in _THROTTLED:
                raise RateLimitedError() from exc
            raise

    def change_email(self, old_email: str, new_email: str) -> None:
        try:
            self._client.admin_update_user_attributes(
                UserPoolId=self._pool_id,
                Username=old_email,
                UserAttributes=[
                    {"Name": "email", "Value": new_email},
                    {"Name": "email_verified", "Value": "true"},
                ],
            )
        except ClientError as exc:
            if _code(exc) in {"AliasExistsException", "UsernameExistsException"}:
                raise EmailInUseError() from exc
            if _code(exc) == "UserNotFoundException":
                return  # not signed up yet: the invitation goes to the new address
            raise

    def mfa_secret(self, access_token: str) -> str:
        try:
            response = self._client.associate_software_token(AccessToken=access_token)
        except ClientError as exc:
            if _code(exc) in _CREDENTIAL_ERRORS:
                raise UnauthorizedError() from exc
            raise
        return str(response["SecretCode"])

    def _verify_code(self, access_token: str, code: str) -> None:
        try:
            response = self._client.verify_software_token(
                AccessToken=access_token, UserCode=code, FriendlyDeviceName="SIDES"
            )
        except ClientError as exc:
            if _code(exc) in _CODE_ERRORS | _MFA_ERRORS | {"InvalidParameterException"}:
                raise InvalidCodeError() from exc
            if _code(exc) in _CREDENTIAL_ERRORS:
                raise UnauthorizedError() from exc
            raise
        if response.get("Status") != "SUCCESS":
            raise InvalidCodeError()

    def _preference(self, access_token: str, enabled: bool) -> None:
        self._client.set_user_mfa_preference(
            AccessToken=access_token,
            SoftwareTokenMfaSettings={"Enabled": enabled, "PreferredMfa": enabled},
        )

    def mfa_enable(self, access_token: str, code: str) -> None:
        if not (code.isdigit() and len(code) == 6):
            raise InvalidCodeError()
        self._verify_code(access_token, code)
        self._preference(access_token, True)

    def mfa_disable(self, access_token: str, code: str) -> None:
        if not (code.isdigit() and len(code) == 6):
            raise InvalidCodeError()
        self._verify_code(access_token, code)
        self._preference(access_token, False)

    def reset_mfa(self, email: str) -> None:
        """The operator's reset for an owner who lost the authenticator."""
        try:
            self._client.admin_set_user_mfa_preference(
                UserPoolId=self._pool_id,
                Username=email,
                SoftwareTokenMfaSettings={"Enabled": False, "PreferredMfa": False},
            )
        except ClientError as exc:
            if _code(exc) != "UserNotFoundException":
                raise

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
