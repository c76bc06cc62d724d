@echo off
rem Instala a Cobranca por e-mail nesta pasta: o mesmo que "make run" faz antes de servir
rem (cria .venv, instala os pacotes, cria/atualiza o banco de dados). Depois oferece criar as
rem duas tarefas agendadas: o envio diario e o servidor ao entrar no Windows.
setlocal
cd /d "%~dp0"

py -3.11 --version >nul 2>nul
if errorlevel 1 (
  echo Python 3.11 nao encontrado. Instale-o de python.org e rode este arquivo de novo.
  goto falhou
)
if not exist .venv\Scripts\python.exe (
  echo Criando o ambiente .venv ...
  py -3.11 -m venv .venv || goto falhou
)
echo Instalando os pacotes (precisa de internet) ...
.venv\Scripts\python.exe -m pip install --quiet --upgrade pip || goto falhou
.venv\Scripts\python.exe -m pip install --quiet -r requirements.txt || goto falhou
echo Criando ou atualizando o banco de dados ...
.venv\Scripts\flask.exe --app app db upgrade || goto falhou
echo.
echo Instalacao concluida. Para abrir o programa: iniciar.cmd
echo.

set RESPOSTA=
set /p RESPOSTA=Criar a tarefa diaria de envio dos lembretes? (S/N) 
if /i not "%RESPOSTA%"=="S" goto servidor
set HORA=
set /p HORA=Horario do envio diario (HH:MM) [08:00]: 
if "%HORA%"=="" set HORA=08:00
schtasks /Create /F /TN "Cobranca - lembretes de pendencias" /TR "\"%~dp0enviar-lembretes.cmd\"" /SC DAILY /ST %HORA%
if errorlevel 1 echo A tarefa diaria nao foi criada; veja o Guia da estacao.

:servidor
set RESPOSTA=
set /p RESPOSTA=Abrir o servidor sempre que este usuario entrar no Windows? (S/N) 
if /i not "%RESPOSTA%"=="S" goto fim
schtasks /Create /F /TN "Cobranca - servidor" /TR "\"%~dp0iniciar.cmd\" /sem-navegador" /SC ONLOGON /RU "%USERNAME%" >nul 2>nul
if not errorlevel 1 (
  echo Tarefa "Cobranca - servidor" criada.
  goto fim
)
rem Sem permissao de administrador o agendador recusa ONLOGON: um atalho na pasta Inicializar faz o mesmo.
echo @call "%~dp0iniciar.cmd" /sem-navegador> "%APPDATA%\Microsoft\Windows\Start Menu\Programs\Startup\Cobranca-servidor.cmd"
if errorlevel 1 goto falhou
echo O servidor vai abrir ao entrar no Windows (pasta Inicializar).

:fim
pause
exit /b 0

:falhou
echo.
echo A instalacao parou com erro (mensagem acima). Corrija e rode instalar.cmd de novo.
pause
exit /b 2
