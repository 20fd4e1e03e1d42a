"""LiveEngage's file storage ("swift") as the Send API uses it: temporary signed upload and download URLs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

UPLOAD_TYPES = ("JPG", "JPEG", "PNG", "GIF")
MAX_FILE_BYTES = 3 * 1024 * 1024
CONTENT_TYPES = {"JPG": "image/jpeg", "JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}


@dataclass
class FileStore:
    account_id: str
    url_ttl_s: int = 60  # LiveEngage: temporary URLs are valid about a minute
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    files: dict[str, bytes] = field(default_factory=dict)
    declared: dict[str, tuple[int, str]] = field(default_factory=dict)

    def _signature(self, method: str, path: str, expires: int) -> str:
        return hmac.new(self.key, f"{method}\n{expires}\n{path}".encode(), hashlib.sha1).hexdigest()

    def temp_url(self, method: str, path: str) -> dict[str, Any]:
        expires = int(time.time()) + self.url_ttl_s
        return {"relativePath": path,
                "queryParams": {"temp_url_sig": self._signature(method, path, expires),
                                "temp_url_expires": str(expires)}}

    def upload_url(self, body: dict[str, Any]) -> dict[str, Any] | str:
        """The upload URL answer's body, or the problem with the request."""
        size, file_type = body.get("fileSize"), str(body.get("fileType", "")).upper()
        if file_type not in UPLOAD_TYPES:
            return f"fileType must be one of {', '.join(UPLOAD_TYPES)}"
        if not isinstance(size, str) or not size.isdigit() or not 0 < int(size) <= MAX_FILE_BYTES:
            return "fileSize must be a string of bytes, at most 3 MB"
        stamp = time.strftime("%d-%m-%Y_%H-%M-%S", time.gmtime())
        path = f"/v1/AUTH_async-images/{self.account_id}/{uuid.uuid4().hex}_uuid_{uuid.uuid4()}_{stamp}.{file_type}"
        self.declared[path] = (int(size), file_type)
        return self.temp_url("PUT", path)

    def store(self, data: bytes, file_type: str) -> str:
        """Keep a file an agent shared (the agent side uploads as the consumer side does); its relativePath."""
        stamp = time.strftime("%d-%m-%Y_%H-%M-%S", time.gmtime())
        path = f"/v1/AUTH_async-images/{self.account_id}/{uuid.uuid4().hex}_uuid_{uuid.uuid4()}_{stamp}.{file_type}"
        self.files[path], self.declared[path] = data, (len(data), file_type)
        return path

    def download_url(self, body: dict[str, Any]) -> dict[str, Any] | str:
        path = body.get("relativePath")
        if not isinstance(path, str) or path not in self.files:
            return "unknown relativePath"
        return self.temp_url("GET", path)

    def routes(self) -> list[Route]:
        return [Route("/v1/AUTH_async-images/{account}/{name}", self.serve, methods=["PUT", "GET"])]

    def _valid(self, request: Request) -> bool:
        expires = request.query_params.get("temp_url_expires", "")
        signature = request.query_params.get("temp_url_sig", "")
        if not expires.isdigit() or int(expires) < time.time():
            return False
        expected = self._signature(request.method, request.url.path, int(expires))
        return hmac.compare_digest(signature, expected)

    async def serve(self, request: Request) -> Response:
        if not self._valid(request):
            return JSONResponse({"error": "temp URL invalid or expired"}, status_code=401)
        path = request.url.path
        if request.method == "GET":
            data = self.files.get(path)
            if data is None:
                return JSONResponse({"error": "not found"}, status_code=404)
            return Response(data, media_type=CONTENT_TYPES[self.declared[path][1]])
        data = await request.body()
        declared_size, _ = self.declared.get(path, (0, ""))
        if not data or len(data) > MAX_FILE_BYTES or len(data) != declared_size:
            return JSONResponse({"error": "check your file size and that it is not corrupted"}, status_code=400)
        self.files[path] = data
        return Response(status_code=201)
