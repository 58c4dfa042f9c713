"""Oracle settings, one model per `oracle.kind`, sharing what every oracle has."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from ._strict import Strict


class OracleBase(Strict):
    """Settings every oracle kind shares."""

    timeout_s: float | None = Field(
        None, gt=0, description="Per-structure wall-time limit in s; a calculation past it is killed and "
        "recorded as failed (null: no limit)."
    )


class MockOracleConfig(OracleBase):
    """Morse pair potential: cheap, deterministic, physically shaped energies/forces/stress."""

    kind: Literal["mock"] = "mock"
    epsilon: float = Field(0.35, gt=0, description="Morse well depth in eV.")
    rho0: float = Field(6.0, gt=0, description="Morse stiffness (dimensionless).")
    r0: float = Field(2.55, gt=0, description="Morse equilibrium distance in Å.")
    fail_fraction: float = Field(0.0, ge=0, lt=1, description="Fault injection: share of calls that fail.")
    fail_mode: Literal["raise", "nan", "hang", "wrong_atoms"] = Field(
        "raise", description="Fault injection: how an injected failure shows (raise an error, NaN forces, "
        "hang forever, return a structure with another atom count)."
    )
    call_log: str | None = Field(
        None, description="Testing aid: append the hash of every structure computed to this file "
        "(relative to the run directory), to count oracle calls across crashes."
    )


class EMTOracleConfig(OracleBase):
    """ASE's EMT: instant stand-in for DFT (Al Cu Ag Au Ni Pd Pt, H C N O)."""

    kind: Literal["emt"] = "emt"


OracleConfig = Annotated[Union[EMTOracleConfig, MockOracleConfig], Field(discriminator="kind")]
