"""A JSON response rendered with orjson (several times faster than json).

It subclasses Starlette's JSONResponse so that FastAPI documents the routes' response models.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
