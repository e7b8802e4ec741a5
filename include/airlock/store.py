"""The S3 client every part of Airlock uses, and the one place S3 errors are classified.

Why one place: boto3 reports "missing", "refused", "corrupt" and "down" through
the same two exception types, and each caller used to guess differently. Here
a missing key is :class:`NotFound`, bad credentials :class:`AccessDenied`, a
checksum the server rejected :class:`IntegrityError` (all permanent), and a
store that is down, slow or throttling :class:`StoreUnavailable` (retryable).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airlock.errors import (
    AccessDenied,
    AirlockError,
    ConfigError,
    IntegrityError,
    InvalidRequest,
    NotFound,
    StoreUnavailable,
)

MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchVersion"})
PRECONDITION = frozenset({"412", "PreconditionFailed", "ConditionalRequestConflict"})
DENIED = frozenset({"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"})
CORRUPT = frozenset({"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum"})


def s3_client(
    endpoint_url: str | None,
    region: str = "us-east-1",
    access_key: str | None = None,
    secret_key: str | None = None,
    pool: int = 16,
) -> Any:
    """A boto3 client (path-style, SigV4, checksums only when required, bounded retries)."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key or os.environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY"),
        config=BotoConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=pool,
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=120,
        ),
    )


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ``ClientError`` (None for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def is_missing(exc: BaseException) -> bool:
    return error_code(exc) in MISSING


def is_precondition_failed(exc: BaseException) -> bool:
    return error_code(exc) in PRECONDITION


def classify(exc: BaseException, what: str) -> AirlockError:
    """The Airlock error for a boto3/botocore failure while doing ``what``."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, AirlockError):
        return exc
    if isinstance(exc, Boto3Error):  # a transfer that failed: classify what it wraps, if anything
        inner = exc.__cause__ or exc.__context__
        if isinstance(inner, (ClientError, BotoCoreError, AirlockError)):
            return classify(inner, what)
        return StoreUnavailable(f"{what}: the transfer failed ({type(exc).__name__}: {str(exc)[:200]})")
    if isinstance(exc, ClientError):
        code = error_code(exc) or "?"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in MISSING:
            return NotFound(f"{what}: not found in the store ({code})")
        if code in DENIED:
            return AccessDenied(f"{what}: the store refused the credentials or permission ({code})")
        if code in CORRUPT:
            return IntegrityError(f"{what}: the store rejected the bytes' checksum ({code})")
        if isinstance(status, int) and (status >= 500 or status == 429) or code in ("SlowDown", "Throttling"):
            return StoreUnavailable(f"{what}: the store is unavailable ({code}, HTTP {status})")
        return InvalidRequest(f"{what}: the store refused the request ({code}, HTTP {status})")
    if isinstance(exc, (BotoCoreError, OSError)):
        return StoreUnavailable(f"{what}: the store could not be reached ({type(exc).__name__})")
    raise TypeError(f"not an S3 error: {type(exc).__name__}")


@contextmanager
def s3_errors(what: str) -> Iterator[None]:
    """Turn boto3/botocore failures inside the block into Airlock errors naming ``what``."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError, Boto3Error) as exc:
        raise classify(exc, what) from exc


NO_LOCK = frozenset({"ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"})


def ensure_bucket(client: Any, bucket: str, lock_days: int = 0, lock_mode: str = "COMPLIANCE") -> None:
    """Create ``bucket`` if it is missing; with ``lock_days``, under S3 object lock.

    Why the lock: every version of every object (blobs, manifests, passes) is
    then kept for ``lock_days`` whatever any identity asks, the pipeline's own
    included, and an overwrite only adds a version. The default retention is
    (re)applied on every call, so a weakened setting is put back. A bucket
    created without object lock is refused: the lock cannot be added later.
    """
    from botocore.exceptions import ClientError

    with s3_errors(f"creating bucket {bucket}"):
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if not is_missing(exc):
                raise
            if lock_days:
                client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
            else:
                client.create_bucket(Bucket=bucket)
    if not lock_days:
        return
    rule = {"DefaultRetention": {"Mode": lock_mode, "Days": lock_days}}
    current = bucket_lock(client, bucket)
    if current.get("ObjectLockEnabled") != "Enabled":
        raise ConfigError(
            f"bucket {bucket} was created without S3 object lock, so its objects can be deleted or"
            " overwritten for good; point registry.bucket at a new bucket, which airlock creates locked"
        )
    if current.get("Rule") != rule:
        with s3_errors(f"object lock of bucket {bucket}"):
            client.put_object_lock_configuration(
                Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule}
            )


def bucket_lock(client: Any, bucket: str) -> dict[str, Any]:
    """The bucket's object-lock configuration as S3 reports it ({} when it has none)."""
    from botocore.exceptions import ClientError

    with s3_errors(f"object lock of bucket {bucket}"):
        try:
            out: dict[str, Any] = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        except ClientError as exc:
            if error_code(exc) in NO_LOCK:
                return {}
            raise
    return out
