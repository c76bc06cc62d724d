"""CPF and CNPJ check digits, including the alphanumeric CNPJ (in force from July 2026)."""
from __future__ import annotations

import pytest

from dunning.taxid import is_valid_cnpj, is_valid_cpf, is_valid_tax_id

VALID_CPFS = ["529.982.247-25", "52998224725", "111.444.777-35", "000.000.001-91"]
INVALID_CPFS = ["529.982.247-26", "529.982.247-52", "111.111.111-11", "000.000.000-00",
                "5299822472", "529982247255", "529.982.247-2X", "ABC.982.247-25", ""]
VALID_CNPJS = ["11.222.333/0001-81", "11222333000181", "04.252.011/0001-10", "00.000.000/0001-91",
               "12.ABC.345/01DE-35", "12ABC34501DE35", "12.abc.345/01de-35"]
INVALID_CNPJS = ["11.222.333/0001-82", "11.222.333/0001-18", "00.000.000/0000-00",
                 "11.111.111/1111-11", "12.ABC.345/01DE-36", "12.ABC.345/01DF-35",
                 "12.ABC.345/01DE-3A", "12.ABC.345/01D!-35", "1122233300018", "112223330001811", ""]


@pytest.mark.parametrize("value", VALID_CPFS)
def test_valid_cpf(value):
    assert is_valid_cpf(value) and is_valid_tax_id(value)
    assert not is_valid_cnpj(value)


@pytest.mark.parametrize("value", INVALID_CPFS)
def test_invalid_cpf(value):
    assert not is_valid_cpf(value)


@pytest.mark.parametrize("value", VALID_CNPJS)
def test_valid_cnpj(value):
    assert is_valid_cnpj(value) and is_valid_tax_id(value)
    assert not is_valid_cpf(value)


@pytest.mark.parametrize("value", INVALID_CNPJS)
def test_invalid_cnpj(value):
    assert not is_valid_cnpj(value)


@pytest.mark.parametrize("value", ["529.982.247-26", "12.ABC.345/01DE-36", "123", "", "abc"])
def test_invalid_tax_id(value):
    assert not is_valid_tax_id(value)
