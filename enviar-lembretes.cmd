@echo off
rem O envio diario (a tarefa agendada criada por instalar.cmd): importa, envia, faz o backup.
rem O codigo de saida e o do envio: 0 tudo certo, 1 algo ficou para tras, 2 nao pode rodar.
cd /d "%~dp0"
.venv\Scripts\python.exe app.py --email_pendencia_financeira
