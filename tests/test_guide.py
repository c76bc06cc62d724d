"""The "Guia da estação" covers every message staff can see, is linked, and is served by the app.

The codes and labels come from the code's own dictionaries, so a reason or a status added later
without a line in the guide fails here.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from blueprints.web import ERROR_MESSAGES
from dunning.dberrors import MESSAGES as DB_MESSAGES
from dunning.delivery import SKIP_LABELS, STATUS_LABELS
from dunning.rules import SKIP_REASON_LABELS
from dunning.runlock import LockBusy, LockHolder
from dunning.sender import stop_message
from dunning.smtp import AuthenticationFailed, AuthorizationFailed, CLEARTEXT_TOKEN_REFUSED
from dunning.station_edit import AUTHORIZATION_FORGOTTEN, PASSWORD_AGAIN, PASSWORD_FORGOTTEN

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guia-da-estacao.md"


def guide() -> str:
    """The guide's text with line breaks and emphasis out of the way of phrase matching."""
    return re.sub(r"\s+", " ", GUIDE.read_text(encoding="utf-8").replace("**", ""))


def first_sentence(message: str) -> str:
    return re.split(r" \(|[.:]", message, maxsplit=1)[0]


LABEL_SETS = {"skip reason": SKIP_REASON_LABELS, "skip reason of a run": SKIP_LABELS,
              "outbox status": STATUS_LABELS}


@pytest.mark.parametrize("kind,code,label", [
    (kind, code, label) for kind, labels in LABEL_SETS.items() for code, label in labels.items()])
def test_every_code_and_its_label_is_in_the_guide(kind, code, label):
    text = guide()
    assert f"`{code}`" in text, f"the guide does not explain the {kind} `{code}`"
    assert f"| `{code}` | {label} |" in text, f"the guide's table does not show {code} as '{label}'"


def test_run_stops_and_refusals_are_in_the_guide():
    text = guide()
    holder = LockHolder(123, "pc", datetime(2026, 12, 1, 8, 0), None)
    messages = [
        stop_message(AuthenticationFailed(535, "5.7.8 Authentication failed")),
        str(LockBusy(holder)),
        "O servidor SMTP não está configurado.",
        "A senha SMTP gravada não pode ser lida com a chave atual",
        "Envio interrompido",
        *DB_MESSAGES.values(),
        "Data inválida",
        "Arquivo recusado; nada foi alterado.",
        "Arquivo grande demais",
        "Usuário ou senha incorretos.",
        "Usuário bloqueado por 5 tentativas com senha errada.",
        "Entre com seu usuário e senha para continuar.",
        "Corrija os campos indicados; nada foi salvo.",
        "Formulário expirado",
        "Backup não feito",
        stop_message(AuthorizationFailed(None, "Microsoft recusou a autorização")),
        "A autorização OAuth 2.0 do e-mail falhou",
        "Autorize novamente em Configurações",
        "Falta autorizar o envio",
        "Ainda não autorizado",
        "Restauração recusada",
        "enviado em parte", "o arquivo está vazio", "Aviso: não foi possível gravar o registro",
        "o arquivo é uma planilha do Excel (.xlsx), não um CSV", "já está em uso",
        "linha em Windows-1252 (ANSI) num arquivo cujas outras linhas estão em UTF-8",
        "caractere invisível (marca de ordem de bytes, BOM) no meio do arquivo",
        "e-mail com acentos ou caracteres especiais antes do @, que o envio não usa",
        "o servidor não respondeu a tempo", "já há um envio em andamento",
        "Outra importação de faturas está em andamento",
        "A limpeza das linhas de clientes ignorados antigas não foi concluída",
        *(title for title, _ in ERROR_MESSAGES.values()),
    ]
    missing = [m for m in messages if first_sentence(m) not in text]
    assert not missing, f"the guide does not mention: {missing}"


def test_the_import_folder_and_the_data_age_are_explained():
    """What the folder does with each file (dunning.folder's own folder names) and the setting's
    label as the form shows it."""
    from blueprints.settings import ImportForm
    from dunning import folder

    text = guide()
    for name in (folder.IMPORTED, folder.REFUSED, folder.ERRORS_SUFFIX, "import-folder",
                 "configure-import", "`stale_data`"):
        assert name in text, f"the guide does not mention {name}"
    with_label = ImportForm.max_data_age_hours.args[0]
    assert with_label in text


def test_the_sign_in_notes_are_in_the_guide_up_to_their_detail():
    """What saving the SMTP settings throws away or refuses (password vs OAuth 2.0), each up to
    its first parenthesis or colon (the sentence's first part alone would not tell them apart)."""
    text = guide()
    for message in (AUTHORIZATION_FORGOTTEN, PASSWORD_FORGOTTEN, PASSWORD_AGAIN,
                    CLEARTEXT_TOKEN_REFUSED):
        assert re.split(r" \(|:", message)[0] in text, message


def test_exit_codes_and_unknown_are_explained():
    text = guide()
    for code in ("0", "1", "2"):
        assert f"| {code} (0x{code}) |" in text
    assert "Quando algo dá errado" in text and "`unknown`" in text
    assert "`stale_data`" in text and "recusado" in text


def test_the_guide_uses_the_seeds_words():
    text = guide()
    for words in ("Política Comercial › Conta", "Faturamento", "Grupo de Pessoas", "Vencimentos",
                  "Enviar e-mail sobre atraso de pendências financeiras", "Dias de tolerância",
                  "--email_pendencia_financeira", "instalar.cmd", "iniciar.cmd"):
        assert words in text


def test_pictures_exist_readme_links_and_the_app_serves_the_guide(staff):
    pictures = re.findall(r"!\[[^\]]+\]\((img/[\w-]+\.png)\)", GUIDE.read_text(encoding="utf-8"))
    assert len(pictures) >= 5
    for picture in pictures:
        assert (GUIDE.parent / picture).is_file(), picture
    assert "docs/guia-da-estacao.md" in (ROOT / "README.md").read_text(encoding="utf-8")

    page = staff.get("/ajuda/").get_data(as_text=True)
    assert '<h1 id="guia-da-estação">Guia da estação</h1>' in page
    assert 'href="/ajuda/"' in staff.get("/").get_data(as_text=True)  # the menu's "Ajuda"
    assert f'src="{pictures[0]}"' in page
    image = staff.get(f"/ajuda/{pictures[0]}")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert staff.get("/ajuda/img/..%2Fguia-da-estacao.md").status_code == 404
