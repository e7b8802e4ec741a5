import pytest

from airlock.errors import InvalidRequest as RequestError
from airlock.intake import parse_request

GOOD = {"model_name": "tiny", "source_kind": "hub", "location": "acme/tiny", "revision": "main"}


def test_valid_request():
    assert parse_request(GOOD).location == "acme/tiny"


@pytest.mark.parametrize(
    "patch,needle",
    [
        ({"location": ""}, "location is empty"),
        ({"location": "not-a-repo"}, "expected 'org/name'"),
        ({"revision": "../../etc"}, "revision '../../etc' is invalid"),
        ({"revision": ""}, "revision '' is invalid"),
        ({"source_kind": "ftp"}, "source_kind"),
        ({"model_name": "Bad Name"}, "model name"),
        ({"source_kind": "s3", "location": "http://x/y"}, "expected s3://bucket/prefix"),
        ({"source_kind": "local", "location": "relative/dir"}, "must be an absolute path"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_params_fail_before_any_work(patch, needle):
    with pytest.raises(RequestError) as e:
        parse_request({**GOOD, **patch})
    assert needle in str(e.value)
    assert str(e.value).startswith("invalid intake request")
