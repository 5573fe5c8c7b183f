"""Load for the prediction log's fault tests: client threads posting single customers and
small batches back to back, counting the customers in 200 answers by request id."""

from __future__ import annotations

import threading
import time

import httpx

from helpers.api import customer

LOAD_THREADS = 4


class Load(threading.Thread):
    """Posts single customers and small batches back to back until the server goes away;
    counts the customers in 200 answers and remembers their request ids."""

    def __init__(self, port: int, number: int, seconds: float = 30.0) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.number = number
        self.seconds = seconds  # a bound, should the server never stop
        self.answered: dict[str, int] = {}  # request id -> customers in its 200 answer
        self.answered_at: dict[str, float] = {}  # request id -> time.monotonic() of the answer
        self.other_statuses: list[int] = []
        self.halt = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        i = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10) as client:
            while not self.halt.is_set() and time.monotonic() < deadline:
                i += 1
                batch = i % 5 == 0
                records = [customer(customer_id=f"T{self.number}-{i}-{k}") for k in range(25)]
                try:
                    if batch:
                        response = client.post("/v1/predict/batch", json={"records": records})
                    else:
                        response = client.post("/v1/predict", json=records[0])
                except httpx.TransportError:
                    if self.halt.is_set():
                        return
                    time.sleep(0.01)  # the server is stopping: new connections are refused
                    continue
                if response.status_code == 200:
                    request_id = response.json()["request_id"]
                    self.answered[request_id] = 25 if batch else 1
                    self.answered_at[request_id] = time.monotonic()
                else:
                    self.other_statuses.append(response.status_code)
