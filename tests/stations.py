"""Test data helper: companies that may be named as creditor (CDC art. 42-A), as a real station
must have them before any reminder goes out (dunning.rules holds the others back)."""
from __future__ import annotations

from sqlalchemy import select

ADDRESS = "Rua das Flores, 100 - Centro\nCampinas/SP - CEP 13010-000"
CNPJ = "11.222.333/0001-81"


def complete_creditors(session, address: str = ADDRESS, tax_id: str = CNPJ) -> None:
    """Fill in the name, CNPJ and address every company lacks; committed."""
    from dunning.taxid import is_valid_tax_id
    from models import Company

    for company in session.scalars(select(Company)):
        company.name = company.name or f"Posto {company.code}"
        if not (company.tax_id and is_valid_tax_id(company.tax_id)):
            company.tax_id = tax_id
        company.address = company.address or address
    session.commit()
