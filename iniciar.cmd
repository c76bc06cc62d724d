@echo off
rem Serve a Cobranca por e-mail em http://127.0.0.1:8080/ e abre o navegador
rem ("iniciar.cmd /sem-navegador": so o servidor, para a tarefa ao entrar no Windows).
setlocal
cd /d "%~dp0"
if not exist .venv\Scripts\python.exe (
  echo Rode primeiro o instalar.cmd.
  pause
  exit /b 2
)
if "%PORT%"=="" set PORT=8080
if /i not "%~1"=="/sem-navegador" start "" cmd /c "timeout /t 3 /nobreak >nul & start http://127.0.0.1:%PORT%/"
.venv\Scripts\python.exe app.py --port %PORT%
