"""Signed CloudFront URLs of stored objects (``PREWORK_CDN_BASE_URL``).

An unsigned CDN URL would make an organization's files public to anyone who
sees one, so this module hands out none: every URL is signed with a CloudFront
key pair (``PREWORK_CDN_KEY_PAIR_ID`` and the RSA private key,
``PREWORK_CDN_PRIVATE_KEY`` or ``PREWORK_CDN_PRIVATE_KEY_FILE``) under a canned
policy that expires. Signing is botocore's :class:`CloudFrontSigner` with an
RSA-SHA1 PKCS#1 v1.5 signer from ``cryptography`` (what CloudFront verifies).

URLs are ``<base>/<logical bucket>/<key>``: the distribution routes
``/media/*``, ``/thumbnails/*`` and ``/documents/*`` to the buckets (with a
CloudFront Function that drops the first path segment, or an origin per
behaviour whose keys carry it). A download name becomes
``response-content-disposition``, which CloudFront passes to S3 when the
behaviour forwards that query string (S3 honours it on the origin access
control's signed requests).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from prework.blobs._keys import content_disposition, validate_key

__all__ = ["CdnSigner"]


class CdnSigner:
    def __init__(self, base_url: str, *, key_pair_id: str, private_key_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the CloudFront private key must be an RSA key")
        if not base_url.startswith("https://"):
            raise ValueError("the CDN base URL must be https://")
        self.base_url = base_url.rstrip("/")

        def sign(message: bytes) -> bytes:
            return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 (CloudFront's)

        self._signer = CloudFrontSigner(key_pair_id, sign)

    def url(
        self, bucket: str, key: str, *, expires_at: datetime, filename: str | None = None
    ) -> str:
        """A signed URL of the object that stops working at ``expires_at``."""
        validate_key(key)
        url = f"{self.base_url}/{quote(bucket, safe='')}/{quote(key, safe='/')}"
        if filename is not None:
            disposition = content_disposition(filename)
            url += "?" + urlencode({"response-content-disposition": disposition}, quote_via=quote)
        signed: str = self._signer.generate_presigned_url(url, date_less_than=expires_at)
        return signed
