"""One error model: S3 and MLflow failures are classified in one place each."""

from __future__ import annotations

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError

from airlock import errors
from airlock.store import classify as s3_classify
from airlock.store import s3_errors
from airlock.tracking.client import classify as mlflow_classify


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    "code,status,kind",
    [
        ("NoSuchKey", 404, errors.NotFound),
        ("404", 404, errors.NotFound),
        ("AccessDenied", 403, errors.AccessDenied),
        ("SignatureDoesNotMatch", 403, errors.AccessDenied),
        ("BadDigest", 400, errors.IntegrityError),
        ("InternalError", 500, errors.StoreUnavailable),
        ("SlowDown", 503, errors.StoreUnavailable),
        ("InvalidArgument", 400, errors.InvalidRequest),
    ],
)
def test_s3_error_codes(code, status, kind):
    exc = s3_classify(_client_error(code, status), "blob x")
    assert type(exc) is kind and str(exc).startswith("blob x: ")
    assert errors.is_permanent(exc) == (not issubclass(kind, errors.RetryableError))


def test_an_unreachable_store_is_retryable_and_a_failed_transfer_is_unwrapped():
    assert isinstance(s3_classify(EndpointConnectionError(endpoint_url="http://s3"), "x"), errors.StoreUnavailable)
    try:
        try:
            raise _client_error("AccessDenied", 403)
        except ClientError as inner:
            raise S3UploadFailedError("Failed to upload") from inner
    except S3UploadFailedError as outer:
        assert isinstance(s3_classify(outer, "x"), errors.AccessDenied)


def test_s3_errors_context_names_the_object():
    with pytest.raises(errors.NotFound, match="manifest m/abc: not found"):
        with s3_errors("manifest m/abc"):
            raise _client_error("NoSuchKey", 404)


@pytest.mark.parametrize(
    "code,kind",
    [
        ("RESOURCE_DOES_NOT_EXIST", errors.NotFound),
        ("PERMISSION_DENIED", errors.AccessDenied),
        ("INVALID_PARAMETER_VALUE", errors.InvalidRequest),
        ("INTERNAL_ERROR", errors.TrackingUnavailable),
        ("TEMPORARILY_UNAVAILABLE", errors.TrackingUnavailable),
    ],
)
def test_mlflow_error_codes(code, kind):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ErrorCode

    exc = MlflowException("boom", error_code=ErrorCode.Value(code))
    assert exc.error_code == code  # what the client raises carries the name
    assert type(mlflow_classify(exc, "alias champion of m")) is kind


def test_a_refused_mlflow_connection_is_retryable():
    assert isinstance(mlflow_classify(ConnectionRefusedError(), "run r"), errors.TrackingUnavailable)


def test_every_error_is_either_permanent_or_retryable():
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.AirlockError)]
    for c in classes:
        if c in (errors.AirlockError, errors.PermanentError, errors.RetryableError):
            continue
        assert issubclass(c, errors.PermanentError) != issubclass(c, errors.RetryableError), c


@pytest.mark.parametrize(
    "code,message,missing",
    [
        ("RESOURCE_DOES_NOT_EXIST", "Registered Model with name=m not found", True),
        ("INVALID_PARAMETER_VALUE", "Registered model alias champion not found.", True),  # MLflow 3's answer
        ("INVALID_PARAMETER_VALUE", "Invalid value 'x' for parameter 'version'", False),
        ("INTERNAL_ERROR", "not found", False),
    ],
)
def test_what_mlflow_reports_as_missing(code, message, missing):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ErrorCode

    from airlock.tracking.client import is_missing

    assert is_missing(MlflowException(message, error_code=ErrorCode.Value(code))) is missing
