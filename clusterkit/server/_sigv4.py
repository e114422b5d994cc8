"""Checking AWS Signature Version 4 on a request, with botocore's own signer.

The server does not compute SigV4 by hand: it rebuilds the request exactly as the client
signed it (the headers the client lists in ``SignedHeaders``, the body, the path and query)
and asks botocore's ``SigV4Auth`` for the signature that request should carry under the
secret the access key names, then compares the two in constant time. Around that: the
algorithm, the credential scope (the ``X-Amz-Date``'s day, this server's region, service
``ecs``), ``X-Amz-Date`` within 15 minutes of the server's clock, ``host`` and
``x-amz-date`` among the signed headers, a signed body hash that matches the body, and the
session token of temporary credentials. Refusals use the codes AWS uses, HTTP 403.
"""

from __future__ import annotations

import configparser
import datetime
import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from clusterkit.errors import ValidationError
from clusterkit.server._wire import ApiError

__all__ = ["ALGORITHM", "MAX_SKEW", "Credential", "load_credentials", "verify_sigv4"]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
MAX_SKEW: Final = datetime.timedelta(minutes=15)
"""How far ``X-Amz-Date`` may be from the server's clock, either way (AWS's limit)."""
_AMZ_DATE: Final = "%Y%m%dT%H%M%SZ"


@attrs.frozen(repr=False)
class Credential:
    """The secret of an access key, and the session token it must come with (temporary credentials)."""

    secret_key: str
    session_token: str | None = None

    def __repr__(self) -> str:
        return "Credential(<secret>)"  # never shown in a log or a traceback


def load_credentials(path: str | Path) -> dict[str, Credential]:
    """The access keys of an AWS shared-credentials file (INI: a section per profile with
    ``aws_access_key_id``, ``aws_secret_access_key`` and, optionally, ``aws_session_token``).

    ValidationError (field ``credentials``) when the file cannot be read or holds no key.
    """
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as text:
            parser.read_file(text)
    except (OSError, configparser.Error) as error:
        raise ValidationError("credentials", str(path), f"cannot be read: {error}") from None
    found: dict[str, Credential] = {}
    for name in parser.sections():
        section = parser[name]
        key, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
        if not key or not secret:
            raise ValidationError(
                "credentials", f"{path} [{name}]", "needs aws_access_key_id and aws_secret_access_key"
            )
        found[key] = Credential(secret, section.get("aws_session_token") or None)
    if not found:
        raise ValidationError("credentials", str(path), "holds no access key")
    return found


def _incomplete(message: str) -> ApiError:
    return ApiError("IncompleteSignatureException", message, 403)


def _invalid(message: str) -> ApiError:
    return ApiError("InvalidSignatureException", message, 403)


def _header(environ: Mapping[str, Any], name: str) -> str | None:
    """A request header by its lower-case name, as WSGI keeps it."""
    key = name.upper().replace("-", "_")
    value = environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}")
    return None if value is None else str(value)


def _authorization(environ: Mapping[str, Any]) -> tuple[str, list[str], str, list[str]]:
    """(access key, scope [day, region, service, terminator], signature, signed header names)."""
    header = _header(environ, "authorization")
    if not header:
        raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    algorithm, _, rest = header.partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported signature algorithm {algorithm!r}; use {ALGORITHM}")
    fields = dict(item.strip().partition("=")[::2] for item in rest.split(","))
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        raise _incomplete(f"Authorization header requires {', '.join(missing)}")
    credential = fields["Credential"].split("/")
    if len(credential) != 5:
        raise _incomplete("Credential must be KEY/DATE/REGION/SERVICE/aws4_request")
    return credential[0], credential[1:], fields["Signature"], fields["SignedHeaders"].split(";")


def verify_sigv4(
    environ: Mapping[str, Any],
    body: bytes,
    credentials: Mapping[str, Credential],
    region: str,
    now: datetime.datetime,
) -> str:
    """Check the request's SigV4 signature; return its access key, or raise ApiError (403)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    access_key, scope, signature, signed = _authorization(environ)
    if "host" not in signed or "x-amz-date" not in signed:
        raise _incomplete("SignedHeaders must include host and x-amz-date")
    amz_date = _header(environ, "x-amz-date") or ""
    try:
        when = datetime.datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=datetime.UTC)
    except ValueError:
        raise _incomplete(f"X-Amz-Date {amz_date!r} is not of the form 20250101T000000Z") from None
    known = credentials.get(access_key)
    if known is None:
        raise ApiError("UnrecognizedClientException", "The security token included in the request is invalid.", 403)
    if scope != [amz_date[:8], region, "ecs", "aws4_request"]:
        raise _invalid(f"Credential should be scoped to {amz_date[:8]}/{region}/ecs/aws4_request")
    if abs(now - when) > MAX_SKEW:
        raise _invalid(f"Signature expired: {amz_date} is more than 15 minutes from the server's time")
    token = _header(environ, "x-amz-security-token")
    if known.session_token is not None and (
        token is None
        or "x-amz-security-token" not in signed
        or not hmac.compare_digest(token.encode(), known.session_token.encode())
    ):
        raise ApiError("UnrecognizedClientException", "The security token included in the request is invalid.", 403)
    headers: dict[str, str] = {}
    for name in signed:
        value = _header(environ, name)
        if value is None:
            raise _incomplete(f"the signed header {name!r} is not in the request")
        headers[name] = value
    declared = headers.get("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(body).hexdigest():
        raise _invalid("X-Amz-Content-SHA256 is not the hash of the body")
    query = environ.get("QUERY_STRING", "")
    url = f"http://{headers['host']}{environ.get('PATH_INFO', '/') or '/'}" + (f"?{query}" if query else "")
    request = AWSRequest(method=environ.get("REQUEST_METHOD", "POST"), url=url, headers=headers, data=body)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, known.secret_key, known.session_token), "ecs", region)
    canonical = signer.canonical_request(request)
    if signer.signed_headers(signer.headers_to_sign(request)) != ";".join(signed):
        raise _incomplete("SignedHeaders must be lower-case, sorted, and name headers the signature may cover")
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise _invalid(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    return access_key
