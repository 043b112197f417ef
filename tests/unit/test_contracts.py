"""Each task's contract is declared once, and every protocol adapter table covers every contract."""

from __future__ import annotations

from models_server.catalog import catalog_rows
from models_server.protocols.inference_api import ADAPTERS, AS_IS
from models_server.tasks import contracts
from models_server.tasks.contracts import CONTRACTS, Contract


def test_contracts_lists_every_contract_the_module_declares() -> None:
    declared = {value for value in vars(contracts).values() if isinstance(value, Contract)}
    assert declared == set(CONTRACTS) | set(contracts.OPERATIONS)
    assert not set(CONTRACTS) & set(contracts.OPERATIONS), "a row's contract listed as an operation too"
    assert len(set(CONTRACTS)) == len(CONTRACTS), "two contracts declare the same fields"


def test_no_catalog_row_serves_an_operation() -> None:
    from models_server.catalog import catalog_rows

    assert not [row.id for row in catalog_rows() if row.task.contract in contracts.OPERATIONS]


def test_every_contract_has_an_inference_api_adapter_or_is_declared_as_is() -> None:
    missing = [contract.name for contract in CONTRACTS if contract not in ADAPTERS and contract not in AS_IS]
    assert not missing, f"contracts with no Inference API adapter and not in AS_IS: {missing}"
    both = [contract.name for contract in CONTRACTS if contract in ADAPTERS and contract in AS_IS]
    assert not both, f"contracts both adapted and declared as is: {both}"
    assert set(ADAPTERS) | AS_IS <= set(CONTRACTS)


def test_every_catalog_row_fulfils_a_declared_contract() -> None:
    strays = {row.id for row in catalog_rows() if row.task.contract not in CONTRACTS}
    assert not strays


def test_implementations_of_one_task_share_its_contract() -> None:
    """Three libraries speak, three enhance or separate: one contract each, not one per library."""
    by_name: dict[str, set[Contract]] = {}
    for row in catalog_rows():
        by_name.setdefault(row.task.name, set()).add(row.task.contract)
    assert by_name["text-to-speech"] == {contracts.TEXT_TO_SPEECH}
    assert by_name["audio-to-audio"] == {contracts.AUDIO_TO_AUDIO}
    assert by_name["audio-classification"] == {contracts.AUDIO_CLASSIFICATION}
