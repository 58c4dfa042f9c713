"""The base of every config model: unknown keys are errors (a typo must not be ignored)."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)
