"""Stream proxies that sit between an SDK stream and the official stream wrapper.

The official wrapper iterates our proxy, our proxy iterates the SDK stream. That order
lets a :class:`StreamTap` see every item first (usage, content sizes), drop an item the
caller never asked for (the usage-only chunk we requested), and do its end-of-stream work
*before* the official wrapper ends the span, whichever way the stream ends: drained,
broken off, closed early, or closed by a ``with`` block. ``on_end`` runs exactly once.

Everything a tap does is guarded: a tap error is logged and the item passes through
unchanged; errors of the SDK stream itself propagate untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from otel_llm.genai._common import logger

if TYPE_CHECKING:

    class ObjectProxy:
        __wrapped__: Any

        def __init__(self, wrapped: Any) -> None: ...

else:
    from wrapt import ObjectProxy


class StreamTap(Protocol):
    def on_item(self, item: Any) -> bool:
        """Observe one item; False drops it from what the caller sees."""

    def on_end(self) -> None:
        """The stream is over (drained, failed or closed). Called once."""


def _end(tap: StreamTap) -> None:
    try:
        tap.on_end()
    except Exception:
        logger.debug("otel-llm: stream tap failed at the end of a stream", exc_info=True)


class _TapProxy(ObjectProxy):
    """What the sync and async proxies share: the tap, and ending it exactly once.

    ``fast`` lets the official chat stream wrapper above skip its per-chunk context
    re-attachment and no-op metrics for this stream (see :mod:`otel_llm.genai._fastpath`).
    """

    def __init__(self, stream: Any, tap: StreamTap, *, fast: bool = False) -> None:
        super().__init__(stream)
        self._self_tap = tap
        self._self_done = False
        self._self_fast = fast

    def _finish(self) -> None:
        if not self._self_done:
            self._self_done = True
            _end(self._self_tap)


class TappedStream(_TapProxy):
    """Sync SDK stream (``openai.Stream``, ``anthropic.Stream``) seen through a tap."""

    def __init__(self, stream: Any, tap: StreamTap, *, fast: bool = False) -> None:
        super().__init__(stream, tap, fast=fast)
        self._self_iter: Iterator[Any] | None = None

    def __iter__(self) -> TappedStream:
        return self

    def __next__(self) -> Any:
        it = self._self_iter
        if it is None:
            it = self._self_iter = iter(self.__wrapped__)
        tap = self._self_tap
        while True:
            try:
                item = next(it)
            except BaseException:
                self._finish()
                raise
            try:  # a tap error passes the item through
                if tap.on_item(item):
                    return item
            except Exception:
                logger.debug("otel-llm: stream tap failed on an item", exc_info=True)
                return item

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._finish()

    def __enter__(self) -> TappedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TappedAsyncStream(_TapProxy):
    """Async SDK stream seen through a tap."""

    def __init__(self, stream: Any, tap: StreamTap, *, fast: bool = False) -> None:
        super().__init__(stream, tap, fast=fast)
        self._self_iter: AsyncIterator[Any] | None = None

    def __aiter__(self) -> TappedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        it = self._self_iter
        if it is None:
            it = self._self_iter = aiter(self.__wrapped__)
        tap = self._self_tap
        while True:
            try:
                item = await anext(it)
            except BaseException:
                self._finish()
                raise
            try:  # a tap error passes the item through
                if tap.on_item(item):
                    return item
            except Exception:
                logger.debug("otel-llm: stream tap failed on an item", exc_info=True)
                return item

    async def close(self) -> None:
        try:
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                await close()
        finally:
            self._finish()

    async def aclose(self) -> None:
        aclose = getattr(self.__wrapped__, "aclose", None)
        if aclose is None:
            await self.close()
            return
        try:
            await aclose()
        finally:
            self._finish()

    async def __aenter__(self) -> TappedAsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _text_delta(event: Any) -> str | None:
    if getattr(event, "type", None) != "content_block_delta":
        return None
    delta = getattr(event, "delta", None)
    if getattr(delta, "type", None) != "text_delta":
        return None
    text = getattr(delta, "text", None)
    return text if isinstance(text, str) else None


class TappedMessageStream(TappedStream):
    """Anthropic ``MessageStream`` (the ``messages.stream()`` helper) seen through a tap.

    The SDK's ``text_stream``, ``until_done()`` and ``get_final_*()`` read the SDK stream
    directly, past every wrapper; we route them through our own iteration so the tap
    (and the time to first chunk) sees those reads too.
    """

    def __init__(self, stream: Any, tap: StreamTap) -> None:
        super().__init__(stream, tap)
        self._self_text: Iterator[str] | None = None

    def _texts(self) -> Iterator[str]:
        for event in self:
            text = _text_delta(event)
            if text is not None:
                yield text

    @property
    def text_stream(self) -> Iterator[str]:
        if self._self_text is None:
            self._self_text = self._texts()
        return self._self_text

    def until_done(self) -> None:
        for _ in self:
            pass

    def get_final_message(self) -> Any:
        self.until_done()
        return self.__wrapped__.get_final_message()

    def get_final_text(self) -> Any:
        self.until_done()
        return self.__wrapped__.get_final_text()


class TappedAsyncMessageStream(TappedAsyncStream):
    """Async counterpart of :class:`TappedMessageStream`."""

    def __init__(self, stream: Any, tap: StreamTap) -> None:
        super().__init__(stream, tap)
        self._self_text: AsyncIterator[str] | None = None

    async def _texts(self) -> AsyncIterator[str]:
        async for event in self:
            text = _text_delta(event)
            if text is not None:
                yield text

    @property
    def text_stream(self) -> AsyncIterator[str]:
        if self._self_text is None:
            self._self_text = self._texts()
        return self._self_text

    async def until_done(self) -> None:
        async for _ in self:
            pass

    async def get_final_message(self) -> Any:
        await self.until_done()
        return await self.__wrapped__.get_final_message()

    async def get_final_text(self) -> Any:
        await self.until_done()
        return await self.__wrapped__.get_final_text()


class StreamManagerProxy(ObjectProxy):
    """An SDK stream manager (``with client.messages.stream(...) as s``) whose stream
    comes out tapped. Exiting the manager ends the tap before the SDK closes the stream."""

    def __init__(self, manager: Any, wrap: Any) -> None:
        super().__init__(manager)
        self._self_wrap = wrap
        self._self_stream: Any = None

    def _tap(self, stream: Any) -> Any:
        """The tapped stream, or the SDK's own if tapping fails."""
        try:
            self._self_stream = self._self_wrap(stream)
        except Exception:
            logger.debug("otel-llm: could not tap a stream", exc_info=True)
            return stream
        return self._self_stream

    def _end_tap(self) -> None:
        tapped = self._self_stream
        if tapped is not None:
            tapped._finish()

    def __enter__(self) -> Any:
        return self._tap(self.__wrapped__.__enter__())

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc)
        finally:
            self._end_tap()

    async def __aenter__(self) -> Any:
        return self._tap(await self.__wrapped__.__aenter__())

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc)
        finally:
            self._end_tap()
