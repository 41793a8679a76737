"""Tests of decode_json: size, encoding and syntax rejections."""

from __future__ import annotations

import pytest

from streams.errors import RejectedMessage, RejectReason
from streams.transforms.decode import decode_json


@pytest.mark.parametrize(
    "body, expected",
    [
        (b'{"a": 1}', {"a": 1}),
        (b"[1, 2]", [1, 2]),
        (b'"text"', "text"),
        ('{"name": "Zo\u00eb"}'.encode(), {"name": "Zo\u00eb"}),
        (bytearray(b"{}"), {}),
    ],
)
def test_decode_valid(body, expected):
    assert decode_json(body) == expected


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"", RejectReason.NOT_JSON),
        (b"{", RejectReason.NOT_JSON),
        (b"{} {}", RejectReason.NOT_JSON),
        (b"NaN", RejectReason.NOT_JSON),
        (b'{"a": Infinity}', RejectReason.NOT_JSON),
        (b"1" * 5000, RejectReason.NOT_JSON),
        (b"[" * 100_000 + b"]" * 100_000, RejectReason.NOT_JSON),
        (b'{"a": "\xff"}', RejectReason.INVALID_UTF8),
        (b"\xc3", RejectReason.INVALID_UTF8),
        ("text", RejectReason.NOT_JSON),
    ],
)
def test_decode_rejected(body, reason):
    with pytest.raises(RejectedMessage) as caught:
        decode_json(body, max_bytes=1_000_000)

    assert caught.value.reason is reason


def test_decode_too_large():
    with pytest.raises(RejectedMessage) as caught:
        decode_json(b"[" + b"1," * 10 + b"1]", max_bytes=10)

    assert caught.value.reason is RejectReason.TOO_LARGE
    assert caught.value.detail == {"size": 23, "max_bytes": 10}


def test_decode_at_limit():
    assert decode_json(b"[1]", max_bytes=3) == [1]
