"""The OpenAPI 3.1 document and the interactive docs."""

from __future__ import annotations

from .conftest import Harness


def test_openapi_document(harness: Harness) -> None:
    response = harness.client().get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) >= 40
    for path, method, operation in operations:
        assert path.startswith("/v1/"), path
        assert operation["security"] == [{"ApiKey": []}], (method, path)
        for status in ("401", "403", "404", "409", "422"):
            content = operation["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
    invoice = document["paths"]["/v1/invoices/{number}"]["get"]["responses"]["200"]["content"]
    assert set(invoice) == {"application/json", "application/pdf"}
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "code", "detail"} <= set(problem["required"])


def test_interactive_docs(harness: Harness) -> None:
    response = harness.client().get("/docs")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "/openapi.json" in response.text
