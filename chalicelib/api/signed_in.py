"""Our own authorizer: every signed-in route verifies the bearer token in the Lambda."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api import http
from chalicelib.bootstrap import get_container


def signed_in(
    bp: Blueprint,
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            token = http.bearer_token(bp.current_request)
            principal = get_container().auth.authenticate(token)
            return view(principal, *args, **kwargs)

        return wrapper

    return decorate
