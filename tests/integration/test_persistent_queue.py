"""The collector's persistent sending queue: a trace-store outage, and a collector
restart in the middle of it, lose no spans.

Traffic keeps flowing while Jaeger is down for 20 s; halfway through, the collector is
restarted, so whatever it held must come back from its file_storage queue (an
in-memory queue would lose it).  When Jaeger is back (empty: it keeps traces in memory),
every trace sent in the window must be found, complete, by its request ID: all of them
came from the queue.
"""

from __future__ import annotations

import time
import uuid

import pytest

from otel_llm import semconv
from otel_llm.store.base import parse_otlp_json
from otel_llm.store.jaeger import JaegerStore
from tests.integration.backends import (
    CollectorInstance,
    JaegerInstance,
    ServiceProcess,
    chat,
    wait_until,
)

pytestmark = pytest.mark.integration

OUTAGE_S = 20.0
QUEUE_SIZE = "otelcol_exporter_queue_size"


@pytest.mark.timeout(300)
def test_store_outage_and_collector_restart_lose_no_spans(
    demo_app: ServiceProcess, otelcol: CollectorInstance, jaeger: JaegerInstance
) -> None:
    store = JaegerStore(jaeger.url)
    # the path works before the outage
    warm = f"it-pq-warm-{uuid.uuid4().hex[:8]}"
    chat(demo_app.url, warm)
    wait_until(lambda: store.find_trace_ids(warm), 30, what="warm-up trace")

    sent: list[str] = []
    queue_before_restart = 0.0
    queue_after_restart = 0.0
    restarted = False
    jaeger.stop()
    try:
        start = time.monotonic()
        while time.monotonic() - start < OUTAGE_S:
            rid = f"it-pq-{len(sent)}-{uuid.uuid4().hex[:8]}"
            chat(demo_app.url, rid, user="carol")
            sent.append(rid)
            if not restarted and time.monotonic() - start > OUTAGE_S / 2:
                # let the SDK's 200 ms batch reach the collector, then restart it
                time.sleep(1.0)
                queue_before_restart = otelcol.metric_sum(QUEUE_SIZE)
                otelcol.stop()
                otelcol.start()
                queue_after_restart = wait_until(
                    lambda: otelcol.metric_sum(QUEUE_SIZE), 10, what="queue reloaded from disk"
                )
                restarted = True
            time.sleep(0.4)
        time.sleep(1.0)  # last spans into the collector
        assert otelcol.metric_sum(QUEUE_SIZE) > 0, "nothing waited in the sending queue"
    finally:
        jaeger.start()
    recovered_at = time.monotonic()
    print(
        f"persistent queue: {len(sent)} requests during a {OUTAGE_S:.0f}s Jaeger outage; "
        f"queue {queue_before_restart:.0f} batches before the collector restart, "
        f"{queue_after_restart:.0f} after"
    )
    assert restarted and queue_before_restart > 0
    # the queue that came back from disk holds at least what was waiting before
    assert queue_after_restart >= queue_before_restart

    # Every trace comes back whole: its server span and its priced GenAI span.  Jaeger
    # finds a trace as soon as any of its spans is stored, and the queue's consumers
    # deliver batches in parallel, so a trace counts once both parts are there.
    missing = set(sent)
    problems: dict[str, str] = {}

    def whole(rid: str) -> bool:
        ids = store.find_trace_ids(rid)
        if len(ids) != 1:
            problems[rid] = f"{len(ids)} traces"
            return False
        spans = parse_otlp_json(store.get_trace(ids[0]))
        genai = [s for s in spans if semconv.is_genai_span(s.attributes)]
        server = [s for s in spans if s.kind == "SERVER"]
        if not server or len(genai) != 1:
            problems[rid] = f"{len(server)} server, {len(genai)} GenAI spans"
            return False
        assert genai[0].attributes.get(semconv.GEN_AI_USAGE_COST_AMOUNT), rid
        problems.pop(rid, None)
        return True

    def all_whole() -> bool:
        for rid in sorted(missing):
            if whole(rid):
                missing.discard(rid)
        return not missing

    try:
        wait_until(all_whole, 120, interval=1.0, what="every trace sent during the outage")
    except TimeoutError:
        pytest.fail(
            f"{len(missing)} of {len(sent)} traces lost or incomplete: "
            f"{[(rid, problems.get(rid, 'not found')) for rid in sorted(missing)[:10]]}"
        )
    recovery_s = time.monotonic() - recovered_at
    print(f"persistent queue: all traces whole in Jaeger {recovery_s:.1f}s after its restart")
    # the queue drained
    wait_until(lambda: otelcol.metric_sum(QUEUE_SIZE) == 0, 30, what="queue drained")
