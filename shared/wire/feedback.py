"""POST /api/v2/sessions/{session_id}/messages/{index}/feedback: thumbs up or down on an answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared.core.types import Feedback
from shared.wire.common import StrictModel

MAX_COMMENT_CHARS = 2_000
MAX_INDEX = 1_000_000


class FeedbackPath(BaseModel):
    session_id: str
    index: int = Field(ge=0, le=MAX_INDEX, description="The answer's position in the session's messages (0-based).")


class FeedbackRequest(StrictModel):
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS, description="Why, in the user's words.")

    def feedback(self) -> Feedback:
        return Feedback(self.rating, self.comment.strip() if self.comment and self.comment.strip() else None)


class FeedbackOut(BaseModel):
    rating: Literal["up", "down"]
    comment: str | None = None


class FeedbackResponse(BaseModel):
    session_id: str
    index: int = Field(description="The message's position in the session's messages (0-based).")
    feedback: FeedbackOut


def feedback_out(feedback: Feedback | None) -> FeedbackOut | None:
    return FeedbackOut(rating=feedback.rating, comment=feedback.comment) if feedback else None
