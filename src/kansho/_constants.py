"""Physical constants used across Kansho (one definition each)."""

from __future__ import annotations

#: speed of light in vacuum (m/s), exact by the SI definition
SPEED_OF_LIGHT = 299_792_458.0
