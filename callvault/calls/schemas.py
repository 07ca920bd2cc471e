"""Live calls at the edge."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CallRead", "CallStart"]

CallId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.\-:@/]+$")]
Username = Annotated[str, Field(min_length=1, max_length=150, pattern=r"^[\w.\-@+]+$")]


class CallStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: CallId = Field(description="The call id the CTI assigned.")
    agent: Username = Field(description="Username of the agent on the call.")
    customer_id: uuid.UUID
    direction: Literal["inbound", "outbound"]


class CallRead(BaseModel):
    id: str
    agent: str
    customer_id: uuid.UUID
    direction: str
    started_at: datetime
    ended_at: datetime | None
    live: bool
