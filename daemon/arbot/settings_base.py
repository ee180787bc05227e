"""What every settings section shares: strict, frozen, no unknown keys."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Fraction = Annotated[float, Field(ge=0, lt=1)]
Lax = Field(strict=False)
Positive = Annotated[float, Field(gt=0)]


class Section(BaseModel):
    # strict: a TOML value of another type is an error, never coerced (true is not 1, "60" is
    # not 60.0, 1 is not true); integers still pass for floats. Paths and arrays are declared
    # Lax: TOML gives them as strings and lists.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
