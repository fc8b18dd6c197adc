# otel-llm services for compose.yaml: the demo service, the mock LLM, the traffic
# generator and the alert log all run from this image (Python 3.11, locked with uv).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir "uv==0.13.8"

WORKDIR /app
# Dependencies first (cached layer), then the package itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra demo --no-install-project
COPY otel_llm ./otel_llm
RUN uv sync --frozen --no-dev --extra demo

ENV PATH=/app/.venv/bin:$PATH
RUN useradd --system --uid 10001 otel-llm
USER otel-llm
EXPOSE 8000
CMD ["otel-llm", "demo-app", "--host", "0.0.0.0", "--port", "8000", "--llm-base-url", "http://mock-llm:8300"]
