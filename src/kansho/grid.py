"""The regular lon/lat grid every raster of a run shares (EPSG:4326, north-up)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid.

    Attributes
    ----------
    width, height:
        Number of columns and rows.
    transform:
        GDAL geotransform ``(x0, dx, 0, y0, 0, dy)``: top-left *corner* of the top-left pixel and
        the pixel size in degrees (``dy`` < 0 for north-up).
    crs:
        CRS as a string understood by rasterio (``"EPSG:4326"``).
    """

    width: int
    height: int
    transform: tuple[float, float, float, float, float, float]
    crs: str = "EPSG:4326"

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.height, self.width)

    @property
    def dx(self) -> float:
        return self.transform[1]

    @property
    def dy(self) -> float:
        return self.transform[5]

    def lon(self) -> npt.NDArray[np.float64]:
        """Longitude of column centres, shape (width,)."""
        return self.transform[0] + (np.arange(self.width) + 0.5) * self.dx

    def lat(self) -> npt.NDArray[np.float64]:
        """Latitude of row centres, shape (height,)."""
        return self.transform[3] + (np.arange(self.height) + 0.5) * self.dy

    def pixel_size_km(self) -> tuple[float, float]:
        """Approximate (dx_km, dy_km) pixel size at the grid's centre latitude (spherical Earth)."""
        lat0 = float(self.lat().mean()) if self.height else 0.0
        k = math.pi / 180.0 * EARTH_RADIUS_KM
        return abs(self.dx) * k * math.cos(math.radians(lat0)), abs(self.dy) * k

    def multilooked(self, n: int) -> Grid:
        """The grid after ``n`` × ``n`` multilooking (incomplete edge looks dropped)."""
        x0, dx, r1, y0, r2, dy = self.transform
        return Grid(self.width // n, self.height // n, (x0, dx * n, r1, y0, r2, dy * n), self.crs)

    def window(self, rows: slice, cols: slice) -> Grid:
        """The sub-grid of a pixel window."""
        r0 = rows.start or 0
        c0 = cols.start or 0
        r1 = self.height if rows.stop is None else rows.stop
        c1 = self.width if cols.stop is None else cols.stop
        x0, dx, a, y0, b, dy = self.transform
        return Grid(c1 - c0, r1 - r0, (x0 + c0 * dx, dx, a, y0 + r0 * dy, b, dy), self.crs)

    def matches(self, other: Grid, rtol: float = 1e-6) -> bool:
        """True if both grids have the same shape and (to ``rtol`` of a pixel) the same transform."""
        if self.shape != other.shape:
            return False
        tol_x = abs(self.dx) * rtol * 1e3
        tol_y = abs(self.dy) * rtol * 1e3
        a, b = self.transform, other.transform
        return (
            abs(a[0] - b[0]) <= tol_x
            and abs(a[3] - b[3]) <= tol_y
            and abs(a[1] - b[1]) <= abs(a[1]) * rtol
            and abs(a[5] - b[5]) <= abs(a[5]) * rtol
        )

    def rowcol(self, lon: float, lat: float) -> tuple[int, int]:
        """(row, col) of the pixel containing ``(lon, lat)`` (may be outside the grid)."""
        col = math.floor((lon - self.transform[0]) / self.dx)
        row = math.floor((lat - self.transform[3]) / self.dy)
        return row, col

    def to_dict(self) -> dict[str, object]:
        return {"width": self.width, "height": self.height, "transform": list(self.transform), "crs": self.crs}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Grid:
        t = tuple(float(v) for v in d["transform"])  # type: ignore[union-attr]
        return cls(int(d["width"]), int(d["height"]), t, str(d.get("crs", "EPSG:4326")))  # type: ignore[arg-type]
