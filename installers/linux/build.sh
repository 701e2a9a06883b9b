#!/usr/bin/env bash
# Build the Linux Device Lab Console from a clean checkout, then smoke-test it:
#
#   installers/linux/build.sh            # venv, wheel, PyInstaller, .tar.gz, .deb, smoke
#   installers/linux/build.sh --fresh    # same, but throw away the build venv first
#   installers/linux/build.sh --no-smoke # build only
#
# Writes dist/devicelab-<version>-linux-x86_64.tar.gz (one-folder app, .desktop
# entry, icons, install.sh for ~/.local) and, when dpkg-deb is there,
# dist/devicelab_<version>_amd64.deb. Everything else stays in build/installer-linux/
# (the build venv is kept between runs: only the console is reinstalled).
# Needs: python3 >= 3.10 with venv, and the package index (PyPI) for the build venv.
# The version comes from pyproject.toml ([project] version), nowhere else.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=$ROOT/build/installer-linux
VENV=$BUILD/venv
DIST=$ROOT/dist
PY=${PYTHON:-python3}
smoke=1
fresh=0
for arg in "$@"; do
  case $arg in
    --fresh) fresh=1 ;;
    --no-smoke) smoke=0 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

t0=$(date +%s)
step() {  # step WHAT: say what starts now, with the seconds since build.sh started
  echo "build.sh: [+$(( $(date +%s) - t0 )) s] $*" >&2
}

[ "$(uname -s)" = Linux ] || { echo "build.sh: builds the Linux app only (see installers/README.md)" >&2; exit 2; }
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null \
  || { echo "build.sh: $PY is missing or older than Python 3.10; set PYTHON=/path/to/python3.10+" >&2; exit 2; }

step "build venv ($VENV)"
[ "$fresh" = 1 ] && rm -rf "$VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi

# Install from a copy holding only what the wheel is built from, so stale
# build/ or egg-info folders in the work tree can never leak into the app.
step "installing the console and PyInstaller into the build venv"
SRC=$BUILD/src
rm -rf "$SRC"
mkdir -p "$SRC"
cp -a console resources pyproject.toml README.md "$SRC/"
find "$SRC" -name __pycache__ -prune -exec rm -rf {} +
"$VENV/bin/python" -m pip install -q "$SRC[package]"
"$VENV/bin/python" -m pip install -q --no-deps --force-reinstall "$SRC"
VERSION=$("$VENV/bin/python" -I -c 'import importlib.metadata as m; print(m.version("device-lab-console"))')
ARCH=$(uname -m)
NAME=devicelab-$VERSION-linux-$ARCH
echo "build.sh: Device Lab Console $VERSION ($ARCH)" >&2

step "PyInstaller"
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$BUILD/pyi-dist" --workpath "$BUILD/pyi-work" installers/linux/devicelab.spec

step "staging $NAME"
STAGE=$BUILD/stage/$NAME
rm -rf "$BUILD/stage"
mkdir -p "$STAGE/icons"
cp -a "$BUILD/pyi-dist/devicelab" "$STAGE/devicelab"
cp installers/linux/devicelab.desktop installers/linux/install.sh "$STAGE/"
chmod 755 "$STAGE/install.sh"
cp resources/icons/devicelab.svg resources/icons/devicelab-*.png "$STAGE/icons/"
sed "s/@VERSION@/$VERSION/g" installers/linux/README.txt > "$STAGE/README.txt"

step "packing dist/$NAME.tar.gz"
mkdir -p "$DIST"
TARBALL=$DIST/$NAME.tar.gz
tar -C "$BUILD/stage" --owner=0 --group=0 --numeric-owner -czf "$TARBALL.tmp" "$NAME"
mv "$TARBALL.tmp" "$TARBALL"

DEB=""
if command -v dpkg-deb >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
  step "packing the .deb"
  DEB=$("$VENV/bin/python" installers/linux/make_deb.py --app "$BUILD/pyi-dist/devicelab" \
        --version "$VERSION" --work "$BUILD/deb" --out "$DIST")
else
  echo "build.sh: dpkg-deb not found: no .deb (the .tar.gz is the main artefact)" >&2
fi

app_kb=$(du -sk "$BUILD/pyi-dist/devicelab" | cut -f1)
tar_b=$(stat -c %s "$TARBALL")
step "built: app folder $((app_kb / 1024)) MiB, $(basename "$TARBALL") $((tar_b / 1048576)) MiB${DEB:+, $(basename "$DEB") $(( $(stat -c %s "$DEB") / 1048576 )) MiB}"

if [ "$smoke" = 1 ]; then
  step "smoke test of the unpacked archive"
  UNPACK=$BUILD/smoke
  rm -rf "$UNPACK"
  mkdir -p "$UNPACK"
  tar -C "$UNPACK" -xzf "$TARBALL"
  BUNDLE_SHA=$("$VENV/bin/python" -I -c \
    'from console.devices.agent_bundle import bundle; print(bundle()[1])')
  "$VENV/bin/python" installers/linux/smoke.py --app "$UNPACK/$NAME" \
    --expect-version "$VERSION" --bundle-sha256 "$BUNDLE_SHA" \
    --agent-python "$VENV/bin/python" --reference-exe "$VENV/bin/devicelab" \
    ${DEB:+--deb "$DEB"} --report "$BUILD/smoke-report.json"
  step "smoke test passed"
fi
echo "build.sh: done in $(( $(date +%s) - t0 )) s: $TARBALL${DEB:+ and $DEB}" >&2
