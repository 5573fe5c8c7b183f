"""The speed floor: a bare FastAPI app that validates the same 23-field body with pydantic
and returns a constant. Whatever bankrisk adds per request is measured against this."""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, create_model

from bankrisk.schema import FIELDS

Customer: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Customer",
    __config__=ConfigDict(extra="forbid"),
    customer_id=(str | None, None),
    **{f.name: (int if f.integer else float, Field(ge=f.minimum, le=f.maximum)) for f in FIELDS},
)

app = FastAPI()


@app.get("/ready")
async def ready() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/predict")
async def predict(customer: Customer) -> dict[str, float]:  # type: ignore[valid-type]
    return {"probability_of_default": 0.5}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
