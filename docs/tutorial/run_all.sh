#!/usr/bin/env bash
# Runs every command of docs/tutorial.md, in order, in a fresh folder, and copies the tutorial's
# figures into docs/img/. Use it to check the tutorial and to refresh its figures and output
# excerpts after a change (compare the logs with the excerpts in docs/tutorial.md):
#
#     bash docs/tutorial/run_all.sh [WORKDIR]        # default /tmp/kansho_tutorial; ~5 min
#
# `kansho` is the installed command; set KANSHO="python -m kansho.cli" (with PYTHONPATH=src) to
# run a checkout. The real GNSS file of section 6 is read from ../shared/data/real/gnss/ (or
# $KANSHO_SHARED/data/real/gnss/) when present; that step is skipped without it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DOCS="$(dirname "$HERE")"
WORK="${1:-/tmp/kansho_tutorial}"
KANSHO="${KANSHO:-kansho}"
SHARED_GNSS="${KANSHO_SHARED:-$(dirname "$DOCS")/../shared}/data/real/gnss/LHAS.tenv3"
if [ -e "$WORK" ] && [ ! -e "$WORK/.kansho_tutorial" ]; then  # never wipe a folder this script did not make
    echo "run_all.sh: $WORK exists and is not a tutorial folder: give another WORKDIR" >&2; exit 2
fi
rm -rf "$WORK" && mkdir -p "$WORK/logs" && touch "$WORK/.kansho_tutorial"
cp "$HERE/plot_points.py" "$HERE/make_gnss.py" "$WORK/"
cd "$WORK"

step() {  # step NAME EXPECTED_RC COMMAND...: run, log to logs/NAME.log, stop on an unexpected exit code
    local name=$1 want=$2; shift 2
    echo "### $*" > "logs/$name.log"
    local rc=0
    "$@" >> "logs/$name.log" 2>&1 || rc=$?
    echo "rc=$rc" >> "logs/$name.log"
    if [ "$rc" != "$want" ]; then echo "tutorial step $name failed (exit $rc, expected $want): logs/$name.log" >&2; exit 1; fi
    echo "ok  $name"
}

step 01_version 0 $KANSHO --version
step 02_demo 0 $KANSHO demo
step 03_demo_real 0 $KANSHO demo --real mx_demo
MX=$(python -c "from kansho.demo import bundled_real_stack; print(bundled_real_stack())")
step 04_ts 0 $KANSHO ts "$MX" -o mx --mask-maxTlen 0.4
step 05_rerun 0 $KANSHO ts "$MX" -o mx --mask-maxTlen 0.4
step 06_info 0 cat mx/info/12ref.txt mx/info/15mask_stats.txt
$KANSHO view mx --no-browser --port 8799 > logs/06_view.log 2>&1 &
VIEW_PID=$!
python - <<'PY'
import time, urllib.request
for _ in range(120):
    try:
        page = urllib.request.urlopen("http://127.0.0.1:8799/", timeout=2).read().decode()
        break
    except OSError:
        time.sleep(0.5)
else:
    raise SystemExit("kansho view did not answer on port 8799 (logs/06_view.log)")
assert "Kansho viewer" in page, page[:200]
PY
kill "$VIEW_PID"
echo "ok  06_view"
step 07_export 0 $KANSHO export mx -f cog,netcdf,mintpy,csv -o mx_export --point=-99.068,19.434 --point=-99.13,19.43
step 08_points 0 python plot_points.py
if [ -f "$SHARED_GNSS" ]; then
    ln -sf "$(cd "$(dirname "$SHARED_GNSS")" && pwd)/LHAS.tenv3" LHAS.tenv3
    step 09_gnss_outside 2 $KANSHO gnss compare mx LHAS.tenv3 -o cmp_mx
else
    echo "skip 09_gnss_outside (no $SHARED_GNSS)"
fi
step 10_make_gnss 0 python make_gnss.py
step 11_compare 0 $KANSHO gnss compare kansho_demo/ts gnss_sim/*.tenv3 -o cmp_demo --radius-km 0.3
step 12_tie 0 $KANSHO gnss compare kansho_demo/ts gnss_sim/*.tenv3 -o cmp_tied --radius-km 0.3 --tie linear --no-plots

cp mx/plots/vel_mskd.png "$DOCS/img/tutorial_mx_vel_mskd.png"
cp points.png "$DOCS/img/tutorial_mx_points.png"
cp cmp_demo/compare_map.png "$DOCS/img/tutorial_gnss_map.png"
cp cmp_demo/ts_F005.png "$DOCS/img/tutorial_gnss_ts.png"
echo "every tutorial command ran; logs in $WORK/logs, figures copied to $DOCS/img"
