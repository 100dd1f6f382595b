"""Documents (PDFs and their e-invoice XML) in the private, object-locked S3 bucket; owners
get short presigned GETs only."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.archive import retain_until as retention_end
from chalicelib.domain.archive import retain_until_moment

BERLIN = ZoneInfo("Europe/Berlin")
PDF = "application/pdf"
XML = "application/xml"


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120] or "Rechnung.pdf"


class S3DocumentStore:
    """DocumentStore on S3: every PDF and XML is locked in COMPLIANCE mode until its retention
    period (8 years after the end of its issue year) is over."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put_pdf(self, key: str, body: bytes, retain_until: date | None = None) -> None:
        self._put(key, body, PDF, retain_until)

    def put_xml(self, key: str, body: bytes, retain_until: date | None = None) -> None:
        """The e-invoice (XRechnung) next to its PDF, locked as long as the PDF."""
        self._put(key, body, XML, retain_until)

    def _put(self, key: str, body: bytes, content_type: str, retain_until: date | None) -> None:
        # A document is archived on the day it is issued; callers that know the issue date
        # pass the end of its retention explicitly.
        release = retain_until or retention_end(datetime.now(BERLIN).date())
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="AES256",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=retain_until_moment(release),
        )

    def get_pdf(self, key: str) -> bytes:
        response = self._client.get_object(Bucket=self._bucket, Key=key)
        body: bytes = response["Body"].read()
        return body

    def get_xml(self, key: str) -> bytes | None:
        try:
            return self.get_pdf(key)
        except self._client.exceptions.NoSuchKey:
            return None

    def retention_of(self, key: str) -> tuple[str, datetime]:
        """Mode and retain-until of an archived document (for checks and tests)."""
        found = self._client.head_object(Bucket=self._bucket, Key=key)
        return str(found["ObjectLockMode"]), found["ObjectLockRetainUntilDate"]

    def presigned_download(self, key: str, filename: str, expires_in: int) -> str:
        url = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{_safe_filename(filename)}"',
                "ResponseContentType": XML if filename.endswith(".xml") else PDF,
            },
            ExpiresIn=min(expires_in, 300),
        )
        return str(url)
