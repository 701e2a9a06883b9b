# Build the Windows installer: build venv, PyInstaller one-folder app, Inno Setup.
# NOT run on these machines (Linux only): written to the same steps as
# installers/linux/build.sh; see installers/README.md for what is known not to work yet.
#   powershell -ExecutionPolicy Bypass -File installers\windows\build.ps1
# Needs: Python 3.10+ (py launcher) and Inno Setup 6.3+ (iscc.exe on PATH or in its default folder).
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$Root = (Get-Location).Path
$Build = Join-Path $Root "build\installer-windows"
$Venv = Join-Path $Build "venv"
$Py = Join-Path $Venv "Scripts\python.exe"

if (-not (Test-Path $Py)) {
    py -3 -m venv $Venv
    & $Py -m pip install -q --upgrade pip
}
# Install from a copy holding only what the wheel is built from (as build.sh does).
$Src = Join-Path $Build "src"
if (Test-Path $Src) { Remove-Item -Recurse -Force $Src }
New-Item -ItemType Directory -Force $Src | Out-Null
Copy-Item -Recurse console, resources, pyproject.toml, README.md $Src
& $Py -m pip install -q "$Src[package]"
& $Py -m pip install -q --no-deps --force-reinstall $Src
$Version = & $Py -c "import importlib.metadata as m; print(m.version('device-lab-console'))"
Write-Host "build.ps1: Device Lab Console $Version"

& (Join-Path $Venv "Scripts\pyinstaller.exe") --noconfirm --clean --log-level WARN `
    --distpath (Join-Path $Build "pyi-dist") --workpath (Join-Path $Build "pyi-work") `
    installers\windows\devicelab.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

# Smoke: the CLI exe's version must be pyproject's.
$Cli = Join-Path $Build "pyi-dist\devicelab\devicelab-cli.exe"
$Got = & $Cli --version
if ($Got -ne "devicelab $Version") { throw "devicelab-cli.exe --version printed '$Got'" }

$Iscc = (Get-Command iscc.exe -ErrorAction SilentlyContinue).Source
if (-not $Iscc) { $Iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
if (-not (Test-Path $Iscc)) { throw "Inno Setup 6.3+ not found: install it (https://jrsoftware.org/isinfo.php) or put iscc.exe on PATH" }
& $Iscc "/DAppVersion=$Version" installers\windows\devicelab.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
Write-Host "build.ps1: dist\devicelab-$Version-windows-x64-setup.exe"
