"""The ``id`` path convertor: ``/{customer_id:id}`` matches one segment without ``:``.

Routes put custom verbs after an id (``POST /v1/customers/{customer_id}:reveal``).
Starlette's default segment (``[^/]+``) lets ``/{customer_id}`` swallow ``<id>:reveal``,
so a ``GET`` of a verb route reached ``GET /{customer_id}`` and answered 422 (malformed
id) instead of 405 with ``Allow``. An id never holds ``:``, and this convertor says so;
the value is still validated by the parameter's type, so a malformed id stays a 422.
``callvault.api`` registers it on import, before any router declares a route.
"""

from __future__ import annotations

from starlette.convertors import StringConvertor, register_url_convertor

__all__ = ["ID_CONVERTOR", "IdSegment", "register"]

ID_CONVERTOR = "id"


class IdSegment(StringConvertor):
    regex = "[^/:]+"


def register() -> None:
    register_url_convertor(ID_CONVERTOR, IdSegment())
