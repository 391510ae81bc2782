"""(41) `ClientRequestToken` on the stack operations, as CloudFormation keeps it: every event
an operation causes carries its token, so a caller that retries, or a later invocation of
it, finds its own operation in the stack's events. moto takes the parameter on none of
them and answers every event's ClientRequestToken empty."""

from __future__ import annotations

import re
import threading
from types import SimpleNamespace
from typing import Any

from ..registry import patch
from ..state import LOCK

_moto = SimpleNamespace()

# The token of the operation each stack (by stack id) is running or ran last; None for an
# operation started without one. Every event created for the stack carries it.
OPERATION_TOKENS: dict[str, str | None] = {}

# The token of the CreateStack request being handled on this thread (its stack id is not
# known until moto made it).
_CREATING = threading.local()

# "ClientRequestToken ... Length Constraints: Minimum length of 1. Maximum length of 128.
# Pattern: [a-zA-Z0-9][-a-zA-Z0-9]*" (UpdateStack, CreateStack, ExecuteChangeSet API reference).
TOKEN = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")


def validation_error(message: str) -> Exception:
    from moto.cloudformation.exceptions import ValidationError

    return ValidationError(message=message)


def token_already_exists() -> Exception:
    from moto.cloudformation.exceptions import CloudFormationError

    class TokenAlreadyExistsException(CloudFormationError):
        code = "TokenAlreadyExistsException"

    return TokenAlreadyExistsException("A client request token already exists.")


def requested_token(response: Any) -> str | None:
    """The request's ClientRequestToken, refused as AWS refuses a malformed one."""
    token = response._get_param("ClientRequestToken")
    if token is None:
        return None
    if not (1 <= len(token) <= 128) or not TOKEN.fullmatch(token):
        raise validation_error(
            f"1 validation error detected: Value '{token}' at 'clientRequestToken' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][-a-zA-Z0-9]*"
        )
    return token


def used_on(stack: Any, token: str) -> bool:
    return any(getattr(e, "client_request_token", None) == token for e in stack.events)


def on_existing_stack(original: Any, stack_param: str) -> Any:
    """An operation on an existing stack: its token (or none) becomes the stack's current
    operation's, from before its first event; restored when the request is refused."""

    def handler(self: Any) -> Any:
        token = requested_token(self)
        with LOCK:
            try:
                stack = self.cloudformation_backend.get_stack(self._get_param(stack_param))
            except Exception:  # noqa: BLE001 - moto answers a missing stack itself
                return original(self)
            if token is not None and used_on(stack, token):
                raise token_already_exists()
            busy = str(stack.status).endswith("_IN_PROGRESS")
            before = OPERATION_TOKENS.get(stack.stack_id)
            if not busy:  # a refused request must not relabel the running operation
                OPERATION_TOKENS[stack.stack_id] = token
            try:
                return original(self)
            except Exception:
                if not busy:
                    OPERATION_TOKENS[stack.stack_id] = before
                raise

    return handler


def create_stack(self: Any) -> Any:
    _CREATING.token = requested_token(self)
    try:
        return _moto.create_stack(self)
    finally:
        _CREATING.token = None


def event_init(self: Any, stack_id: str, *args: Any, **kwargs: Any) -> None:
    _moto.event_init(self, stack_id, *args, **kwargs)
    if stack_id not in OPERATION_TOKENS and getattr(_CREATING, "token", None):
        OPERATION_TOKENS[stack_id] = _CREATING.token
    self.client_request_token = OPERATION_TOKENS.get(stack_id)


@patch(
    41, service="CloudFormation",
    behaviour="""`ClientRequestToken` on CreateStack, UpdateStack and ExecuteChangeSet: every event
      the operation causes (the stack's, and a resource's where one is recorded) carries the token in
      DescribeStackEvents; a token used before on the stack is refused
      (TokenAlreadyExistsException "A client request token already exists."), a malformed
      one too (ValidationError, pattern `[a-zA-Z0-9][-a-zA-Z0-9]*`, 1 to 128 characters).
      moto takes the parameter nowhere and leaves every event's token empty.""",
    source="""UpdateStack API reference, ClientRequestToken ("All events initiated by a given stack
      operation are assigned the same client request token, which you can use to track
      operations") and Errors (TokenAlreadyExists); StackEvent data type,
      ClientRequestToken.""",
)
def install_request_tokens() -> None:
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation.responses import CloudFormationResponse

    _moto.event_init = cfn_models.Event.__init__
    cfn_models.Event.__init__ = event_init
    _moto.create_stack = CloudFormationResponse.create_stack
    CloudFormationResponse.create_stack = create_stack
    CloudFormationResponse.update_stack = on_existing_stack(CloudFormationResponse.update_stack, "StackName")
    CloudFormationResponse.execute_change_set = on_existing_stack(
        CloudFormationResponse.execute_change_set, "StackName")
