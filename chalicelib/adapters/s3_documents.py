"""Invoice PDFs in the private S3 bucket; owners get short presigned GETs only."""

from __future__ import annotations

import re
from typing import Any


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120] or "Rechnung.pdf"


class S3DocumentStore:
    """DocumentStore on S3."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put_pdf(self, key: str, body: bytes) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType="application/pdf",
            ServerSideEncryption="AES256",
        )

    def presigned_download(self, key: str, filename: str, expires_in: int) -> str:
        url = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{_safe_filename(filename)}"',
                "ResponseContentType": "application/pdf",
            },
            ExpiresIn=min(expires_in, 300),
        )
        return str(url)
