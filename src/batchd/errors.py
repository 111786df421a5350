"""Errors that reach the wire: each carries its HTTP status and AWS error type."""

from __future__ import annotations


class BatchError(Exception):
    """An error rendered as AWS's JSON error shape: status, x-amzn-ErrorType, {"__type","message"}."""

    status: int = 400
    error_type: str = "ClientException"

    def __init__(self, message: str, *, status: int | None = None, error_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type


class ClientException(BatchError):
    """The caller's mistake (AWS Batch's ClientException, HTTP 400)."""


class ServerException(BatchError):
    """An internal failure that changed nothing (AWS Batch's ServerException, HTTP 500)."""

    status = 500
    error_type = "ServerException"


class AuthError(BatchError):
    """A request whose signature could not be verified (docs/api.md, Signatures and accounts)."""

    status = 403


class UnknownOperation(BatchError):
    """A path or method that is not an operation of the service."""

    status = 404
    error_type = "UnknownOperationException"


class UnsupportedOperation(ClientException):
    """An operation of the service's model that batchd does not implement: named, never a 404."""


class ResourceNotFound(BatchError):
    """CloudWatch Logs' ResourceNotFoundException (HTTP 400): a log group or stream that does not exist."""

    error_type = "ResourceNotFoundException"


class InvalidParameter(BatchError):
    """CloudWatch Logs' InvalidParameterException (HTTP 400): a parameter the Logs API refuses."""

    error_type = "InvalidParameterException"
