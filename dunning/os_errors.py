"""What the operating system refused (a file or folder named by staff, the log file, a port), in
pt-BR: the one home of these words, so that no message shows Python's English ``strerror``."""
from __future__ import annotations

import errno

from dunning.typed_input import shown

_REASONS = {
    errno.ENOENT: "não existe",
    errno.EACCES: "sem permissão",
    errno.EPERM: "sem permissão",
    errno.EISDIR: "é uma pasta, não um arquivo",
    errno.ENOTDIR: "uma parte do caminho não é uma pasta",
    errno.EEXIST: "já existe",
    errno.ENAMETOOLONG: "nome ou caminho longo demais",
    errno.ENOSPC: "disco cheio",
    errno.EROFS: "disco somente leitura",
    errno.ELOOP: "atalhos (links) em círculo no caminho",
    errno.EBUSY: "em uso por outro programa",
    errno.ETXTBSY: "em uso por outro programa",
    errno.EINVAL: "nome inválido",
    errno.EADDRINUSE: "endereço em uso",
    errno.EADDRNOTAVAIL: "endereço indisponível neste computador",
}


def os_reason(exc: OSError) -> str:
    """Why ``exc`` happened, in pt-BR (the system's own words only for what we do not know)."""
    return _REASONS.get(exc.errno) or exc.strerror or str(exc) or type(exc).__name__


def describe_os_error(exc: OSError, default_name: str = "") -> str:
    """``'caminho': motivo`` (or only the reason when no file is named), for an error message."""
    name = shown(exc.filename if exc.filename is not None else default_name)
    reason = os_reason(exc)
    return f"'{name}': {reason}" if name else reason
