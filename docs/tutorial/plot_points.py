import csv
from collections import defaultdict

import matplotlib.pyplot as plt

series = defaultdict(list)
with open("mx_export/points.csv") as f:
    for row in csv.DictReader(f):
        series[(row["lon"], row["lat"])].append((float(row["decimal_year"]), float(row["cum_mm"])))
fig, ax = plt.subplots(figsize=(7, 3.5))
for (lon, lat), pts in series.items():
    t, d = zip(*pts)
    ax.plot(t, d, "o-", label=f"{-float(lon):.3f}°W {float(lat):.3f}°N")
ax.set_xlabel("years since 2018-01-06")
ax.set_ylabel("LOS displacement (mm)")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig("points.png", dpi=100)
