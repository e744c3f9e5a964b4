"""Pages of the ml group."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.web.session import csrf_protect

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
