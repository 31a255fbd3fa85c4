"""Physical constants used across Kansho (one definition each)."""

from __future__ import annotations

import math

#: speed of light in vacuum (m/s), exact by the SI definition
SPEED_OF_LIGHT = 299_792_458.0


def phase_to_mm(wavelength: float) -> float:
    """Factor converting LiCSAR unwrapped phase (rad) to LOS displacement (mm, + toward satellite).

    ``-wavelength / (4 pi) * 1000`` with the wavelength in m: LiCSAR phase grows with range.
    """
    return -wavelength / (4.0 * math.pi) * 1000.0
