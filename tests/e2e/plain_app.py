"""An ordinary FastAPI service calling OpenAI, with no otel-llm code at all (zero-code test)."""

from __future__ import annotations

import os

import openai
from fastapi import FastAPI

app = FastAPI()
client = openai.AsyncOpenAI(
    base_url=os.environ["LLM_BASE_URL"] + "/v1", api_key="sk-test-key", max_retries=0
)


@app.get("/ask")
async def ask(q: str = "hello", stream: bool = False) -> dict[str, str]:
    if stream:
        parts = []
        async for chunk in await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": q}], stream=True
        ):
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
            if chunk.usage is not None:
                return {"error": "caller saw a usage chunk it did not ask for"}
        return {"answer": "".join(parts)}
    resp = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": q}]
    )
    return {"answer": resp.choices[0].message.content or ""}
