#!/bin/bash
# Run benchmarks/bench_device.py on a many-core machine with a CUDA GPU whose Python lacks some of
# Kansho's dependencies and cannot reach a package index (e.g. a lent machine with CuPy, numba, numpy,
# scipy, h5py and matplotlib but no rasterio, zarr or dask).
#
#   benchmarks/device_run.sh WHEELS_DIR REV OUT_DIR ["where it runs, in words" [bench_device.py options]]
#
# WHEELS_DIR holds the missing packages as wheels for that machine's Python, made beforehand where pip
# works, e.g. for CPython 3.12 on x86-64:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d WHEELS_DIR zarr numcodecs google-crc32c donfig rasterio affine click-plugins cligj dask distributed \
#     locket partd tblib zict tornado pydantic pydantic_core annotated-types typing-inspection h5netcdf \
#     pyerfa isal snaphu
# (about 50 MB, rasterio's bundled GDAL most of it). The results go to OUT_DIR/results_device.json, to be
# appended to benchmarks/results_device.json here; `bench_chain.py --write-only` then rebuilds the page.
set -u
wheels=$1 rev=$2 out=$3 where=${4:-"a many-core machine with a CUDA GPU"}
cd "$(dirname "$0")/.."
t0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/kansho-site \
  "$wheels"/*.whl || exit 3
export PYTHONPATH=/tmp/kansho-site:$PWD/src PYTHONUNBUFFERED=1
nvidia-smi -L; nproc; lscpu | grep -E "Model name|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)"
python3 -c "import kansho.cli, zarr, rasterio, dask, distributed, numba, cupy
print('numba', numba.__version__, 'cupy', cupy.__version__, 'GPUs', cupy.cuda.runtime.getDeviceCount())" || exit 4
echo "installed and checked in $(( $(date +%s) - t0 )) s"
mkdir -p "$out"
python3 benchmarks/bench_device.py --out "$out/results_device.json" --rev "$rev" --where "$where" \
  --env "default environment (kansho caps BLAS at one thread in-process; its workers set NUMBA/OpenBLAS threads to 1)" \
  "${@:5}" 2>&1 | tee "$out/bench.log"
echo "total $(( $(date +%s) - t0 )) s"
