"""Schemathesis over the whole OpenAPI document, with an operator key: whatever the schema
allows, the server answers without a 5xx, with a documented status and content type, and a
body that matches its schema. Kept small: a few generated cases per operation."""

from __future__ import annotations

import collections
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from abonnement.services import licensing, subscriptions

from .conftest import Harness

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = int(os.environ.get("ABONNEMENT_FUZZ_EXAMPLES", "8"))


@pytest.fixture
def fuzzed(shop: Harness) -> Harness:
    """Something for the generated ids to find: an organization with a subscription, people
    with licenses, and invoices."""
    tenant = shop.tenant("Contoso")
    shop.engine.run(shop.op, subscriptions.buy, tenant.id, "std-monthly", quantity=5)
    shop.engine.run(shop.op, licensing.assign, tenant.id, "STD", shop.people(tenant, 2))
    return shop


def test_no_server_errors_and_no_schema_violations(fuzzed: Harness) -> None:
    schema = schemathesis.openapi.from_url(fuzzed.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {fuzzed.operator_key}"}
    failures: list[str] = []
    statuses: collections.Counter[int] = collections.Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses[response.status_code] += 1

        try:
            fuzz()
        except Exception as exc:  # every operation is tried; all failures are reported
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 40
    assert failures == []
    assert statuses[200] + statuses[201] > 0 and statuses[422] > 0, statuses
