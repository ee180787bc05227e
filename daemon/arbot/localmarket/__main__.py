"""Run one fake exchange as a process: `python -m arbot.localmarket --kind binance --port 0`.

Prints one line `LOCALMARKET <kind> <url>` once listening (read it to learn the port), then
serves until SIGTERM/SIGINT. Faults are switched over HTTP:
`GET <url>/_control/fault?name=silent&value=1`, `...?name=drop`, `...?name=clear`,
`...?name=sequence_reset` (update ids start again); order-book faults `book_gap=N` (the
next N book updates are not sent: a sequence gap), `bad_checksum=N` (the next N carry a
wrong checksum), `stale_snapshot=N` (REST snapshots N updates old, until cleared).
Counters at `GET <url>/_control/counters`; a symbol's order book (started on first use)
at `GET <url>/_control/book?symbol=BTC/USDT[&id=N][&depth=D]`: its levels best first,
now or right after update id N."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from arbot.event_loop import loop_factory
from arbot.localmarket.dialects import ALIASES, KINDS
from arbot.localmarket.quotes import PriceSource, RandomWalk, Replay
from arbot.localmarket.server import LocalExchange


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m arbot.localmarket",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--kind", choices=[*KINDS, *ALIASES], default="binance")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--symbols", default="BTC/USDT,ETH/USDT", help="comma-separated")
    p.add_argument("--rate", type=float, default=10.0, help="quotes per second per symbol")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--offset",
        type=float,
        default=0.0,
        help="relative price offset, 0.002 quotes 0.2%% above the common path",
    )
    p.add_argument(
        "--dislocation-every",
        type=float,
        default=0.0,
        help="seconds between temporary price dislocations (0: none)",
    )
    p.add_argument("--dislocation-size", type=float, default=0.005)
    p.add_argument("--dislocation-length", type=float, default=2.0)
    p.add_argument(
        "--replay",
        choices=["spot", "usdm"],
        help="replay the recorded Binance captures of this venue instead",
    )
    p.add_argument("--speed", type=float, default=1.0, help="replay speed factor")
    p.add_argument(
        "--event-time", action="store_true", help="binance: send E/T event times (as USD-M does)"
    )
    p.add_argument(
        "--number-sizes",
        action="store_true",
        help="send each quote's number (1, 2, 3 ... per symbol) as its ask size; "
        "/_control/counters lists the numbers sent (sent_seq)",
    )
    p.add_argument(
        "--prerendered",
        action="store_true",
        help="cheap sending: frames rendered once a second, only the number patched "
        "(with --number-sizes; for benchmarks near a client's limit)",
    )
    p.add_argument("--book-levels", type=int, default=20, help="order book levels a side")
    p.add_argument(
        "--book-changes", type=int, default=3, help="deeper book levels changed per update"
    )
    return p.parse_args(argv)


def build(args: argparse.Namespace) -> LocalExchange:
    source: PriceSource
    if args.replay:
        source = Replay.venue(args.replay, speed=args.speed)
    else:
        source = RandomWalk(
            symbols=tuple(s.strip() for s in args.symbols.split(",") if s.strip()),
            rate=args.rate,
            seed=args.seed,
            offset=args.offset,
            dislocation_every=args.dislocation_every,
            dislocation_size=args.dislocation_size,
            dislocation_length=args.dislocation_length,
        )
    return LocalExchange(
        args.kind,
        source=source,
        host=args.host,
        port=args.port,
        event_time=args.event_time or args.replay == "usdm",
        number_sizes=args.number_sizes,
        book_levels=args.book_levels,
        book_changes=args.book_changes,
        prerendered=args.prerendered,
    )


async def serve(exchange: LocalExchange) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with exchange:
        print(f"LOCALMARKET {exchange.kind} {exchange.url}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    exchange = build(parse_args(argv))
    # The cheap mode is for measuring clients: uvloop's transports write a frame for a
    # fraction of asyncio's CPU, which leaves the cores to the client measured.
    factory = loop_factory() if exchange.prerendered else None
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(exchange))
    return 0


if __name__ == "__main__":
    sys.exit(main())
