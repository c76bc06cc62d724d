"""What CDC art. 42-A asks of the creditor named in every collection notice: name, CPF/CNPJ and
address. A company lacking any of them is held back from every message (dunning.rules)."""
from __future__ import annotations

from dunning.taxid import is_valid_tax_id


def creditor_gaps(name: str, tax_id: str, address: str) -> list[str]:
    """What CDC art. 42-A asks of a creditor that the company lacks, in pt-BR ([] = complete)."""
    missing = []
    if not (name or "").strip():
        missing.append("nome")
    if not (tax_id or "").strip():
        missing.append("CNPJ")
    elif not is_valid_tax_id(tax_id):
        missing.append("CNPJ válido")
    if not (address or "").strip():
        missing.append("endereço")
    return missing
