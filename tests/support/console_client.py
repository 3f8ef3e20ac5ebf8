"""Signing in to the console over HTTP, for the console's tests (the ``console`` fixture of
tests/console/conftest.py gives every user ``PASSWORD``)."""

from __future__ import annotations

import re

import httpx

PASSWORD = "correct horse battery staple"


def sign_in(client: httpx.Client, username: str = "alice", password: str = PASSWORD) -> httpx.Response:
    form = client.get("/console/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    return client.post("/console/signin", data={"username": username, "password": password,
                                                 "csrf_token": token[1], "next": "/console/"})


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found[1]
