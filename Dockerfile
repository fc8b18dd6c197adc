# otel-llm services for compose.yaml: the demo service, the mock LLM, the traffic
# generator and the alert log all run from this image (Python 3.11, pinned and
# hash-checked by requirements-demo.lock, installed with uv).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

RUN pip install --no-cache-dir "uv==0.13.8"

WORKDIR /app
# Dependencies first (cached layer), then the package itself.
COPY requirements-demo.lock ./
RUN uv venv /app/.venv && uv pip sync --python /app/.venv/bin/python requirements-demo.lock
COPY pyproject.toml README.md ./
COPY otel_llm ./otel_llm
RUN uv pip install --python /app/.venv/bin/python --no-deps .

ENV PATH=/app/.venv/bin:$PATH
RUN useradd --system --uid 10001 otel-llm
USER otel-llm
EXPOSE 8000
CMD ["otel-llm", "demo-app", "--host", "0.0.0.0", "--port", "8000", "--llm-base-url", "http://mock-llm:8300"]
