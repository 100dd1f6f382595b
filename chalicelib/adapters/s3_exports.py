"""The year's export ZIPs under exports/ in the private bucket, fetched by presigned GET."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

ZIP = "application/zip"


class S3ExportStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put_export(self, key: str, body: bytes) -> None:
        # The bucket locks every object for 8 years by default; a copy made on request is
        # locked for a day only, and the bucket's lifecycle removes it after two.
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType=ZIP,
            ServerSideEncryption="AES256",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=datetime.now(UTC) + timedelta(days=1),
        )

    def presigned_download(self, key: str, filename: str, expires_in: int) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:120] or "Export.zip"
        url = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{safe}"',
                "ResponseContentType": ZIP,
            },
            ExpiresIn=min(expires_in, 300),
        )
        return str(url)
