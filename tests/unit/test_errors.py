"""The error format: a machine-readable code and the field, never the value sent."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from shared.errors import install_error_handlers


class Form(BaseModel):
    child_age: int


async def test_a_body_that_is_not_json_names_the_body_and_a_bad_field_names_the_field() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/forms")
    async def submit(form: Form) -> dict[str, int]:
        return {"age": form.child_age}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        broken = await client.post(
            "/forms", content=b'{"child_age": 4', headers={"content-type": "application/json"}
        )
        wrong = await client.post("/forms", json={"child_age": "Amelia-secret"})
    assert broken.status_code == 422
    assert broken.json()["error"]["field"] == "(body)"
    assert wrong.json()["error"]["field"] == "child_age"
    assert "Amelia-secret" not in wrong.text
