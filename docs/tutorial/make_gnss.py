import numpy as np

from kansho.io.geotiff import read_raster
from kansho.store import open_stack
from kansho.synth.geodesy import gnss_from_frame, write_gnss
from kansho.synth.truth import load_truth

truth = load_truth("kansho_demo/sim")              # the simulated frame's true motion
los_u = open_stack("kansho_demo/ts").read2d("los_u")
mask = read_raster("kansho_demo/ts/results/mask.tif")
ny, nx = mask.shape
ok = np.argwhere((mask == 1) & ~truth.water)
ok = ok[(ok[:, 0] > 5) & (ok[:, 0] < ny - 5) & (ok[:, 1] > 5) & (ok[:, 1] < nx - 5)]
pick = ok[np.random.default_rng(0).choice(len(ok), 8, replace=False)]
stations = gnss_from_frame(truth, los_u, pick[:, 0], pick[:, 1], rng=1)   # 1 mm daily noise
write_gnss("gnss_sim", stations)
