"""Presigned S3 PUT URLs that also sign the upload's length (AWS Signature V4, query form).

The ``minio`` SDK presigns the ``host`` header only, so its PUT URLs take a body of any size until they expire. Here
``content-length`` is signed as well: S3 (AWS, MinIO, SeaweedFS) recomputes the signature from the request's own
header and answers 403 ``SignatureDoesNotMatch`` to any other length before storing anything. Kept here because no
dependency we ship exposes it (docs/decisions.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"


def _enc(value: str, safe: str = "-_.~") -> str:
    return quote(value, safe=safe)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def presign_put(
    *,
    base_url: str,
    bucket: str,
    key: str,
    length: int,
    access_key: str,
    secret_key: str,
    region: str,
    expires: dt.timedelta,
    extra_query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    now: dt.datetime | None = None,
) -> str:
    """A PUT URL for ``bucket/key`` valid for ``expires`` that accepts a body of exactly ``length`` bytes.

    ``base_url`` is ``scheme://host[:port]`` exactly as the uploader will reach it (the host is signed). ``headers``
    are signed too: the uploader must send each with exactly this value (e.g. ``x-amz-checksum-sha256``, which makes
    S3 verify the body, and ``if-none-match: *``, which makes it refuse a second write to the key)."""
    if length < 0:
        raise ValueError("length must not be negative")
    scheme, _, host = base_url.partition("://")
    if not host:
        raise ValueError(f"base_url needs a scheme: {base_url!r}")
    host = host.rstrip("/")
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/{region}/s3/aws4_request"
    signed = {k.lower().strip(): str(v).strip() for k, v in (headers or {}).items()}
    signed.update({"content-length": str(length), "host": host})
    names = ";".join(sorted(signed))
    query = dict(extra_query or {})
    query.update(
        {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{access_key}/{scope}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(int(expires.total_seconds())),
            "X-Amz-SignedHeaders": names,
        }
    )
    canonical_query = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(query.items()))
    path = "/" + _enc(f"{bucket}/{key}", safe="-_.~/")
    canonical_request = "\n".join(
        [
            "PUT",
            path,
            canonical_query,
            "".join(f"{name}:{signed[name]}\n" for name in sorted(signed)),
            names,
            "UNSIGNED-PAYLOAD",
        ]
    )
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    signing_key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        signing_key = _hmac(signing_key, part)
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{scheme}://{host}{path}?{canonical_query}&X-Amz-Signature={signature}"
