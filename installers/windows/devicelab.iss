; Inno Setup script: the Windows installer for Device Lab Console.
; NOT built or tested on these machines (Linux only, no Inno Setup): see
; installers/README.md. Needs Inno Setup 6.3 or later; build.ps1 runs PyInstaller
; with devicelab.spec first, then:
;   iscc /DAppVersion=<version from pyproject> installers\windows\devicelab.iss
; Installs per user by default (no administrator rights: locked-down lab PCs),
; or for all users when the installer is started as administrator.

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z devicelab.iss (build.ps1 reads it from pyproject via the installed metadata)
#endif

#define AppName "Device Lab Console"
#define Root "..\.."

[Setup]
; The AppId names this product to Windows' uninstaller: never change it.
AppId={{96C15A24-D360-471C-A3F5-75DC38C0DF2C}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Device Lab Console developers
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#Root}\dist
OutputBaseFilename=devicelab-{#AppVersion}-windows-x64-setup
SetupIconFile={#Root}\resources\icons\devicelab.ico
UninstallDisplayIcon={app}\devicelab.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesEnvironment=no

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The PyInstaller one-folder app (devicelab.exe, devicelab-cli.exe, _internal\).
Source: "{#Root}\build\installer-windows\pyi-dist\devicelab\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\devicelab.exe"; Comment: "Run ONNX model packages on lab devices and watch them live"
Name: "{group}\{#AppName} command line"; Filename: "{cmd}"; Parameters: "/k ""{app}\devicelab-cli.exe"" --help"; WorkingDir: "{userdocs}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\devicelab.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\devicelab.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Only what the app wrote into its own folder; settings and the session log
; (%LOCALAPPDATA%\devicelab) are the user's and stay.
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
