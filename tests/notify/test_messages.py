"""What a person reads: the opportunity's lines, a closing with its paper result, the fold
and the daily summary; and the JSON body a webhook gets."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

from arbot.models import Episode
from arbot.notify import messages
from tests.notify.test_route import signal

AT = 1_764_245_584.12  # 2025-11-27 12:13:04 UTC


def test_an_opportunity_reads_at_a_glance_and_its_json_has_the_signal() -> None:
    s = signal(profit=7.56, profit_percent=0.42, trend_direction="widening", timestamp=AT)
    s = replace(s, buy_price=64210.5, sell_price=64480.1, buy_size=0.028, sell_size=0.028)
    m = messages.opportunity(7, s, AT)
    assert m.title == "BTC/USDT +0.42 %: buy kraken, sell okx"
    assert m.text == (
        "BTC/USDT: buy kraken at 64210.5, sell okx at 64480.1\n"
        "net 0.420 %: 7.56 USDT on 0.028 BTC (~1,797.89 USDT)\n"
        "confidence 0.80, widening; seen 12:13:04Z"
    )
    assert m.body(False) == m.text
    body = json.loads(m.body(True))
    assert body["event"] == "opportunity" and body["id"] == 7 and body["executed"] is False
    assert body["episode_key"] == s.episode_key and body["buy_price"] == 64210.5


def test_a_closing_the_fold_and_the_day() -> None:
    ep = Episode("k", "BTC/USDT", "kraken", "okx", AT, AT + 42.2, 0.51, 40, 7, "spread closed")
    m = messages.episode_closed(ep, messages.Paper(2, 1, 3.1, 1), AT + 43)
    assert m.title == "BTC/USDT closed after 42 s, peak 0.51 %"
    assert m.text.endswith("\npaper: 2 trades, 1 filled, +3.1000 USDT, 1 still open")
    fold = messages.folded(Counter({"opportunity": 44, "episode_closed": 1}), AT, AT + 30, 5)
    assert fold.text == (
        "45 more in the last minute (44 opportunity, 1 episode_closed); at most 5 messages a "
        "minute are sent"
    )
    assert messages.folded(Counter(feed_down=3), AT, AT + 600, 5).title == "3 more since 12:13:04Z"
    facts = {"signals": 412, "episodes": 57, "paper_trades": 9, "paper_profit": {"USDT": 12.5},
             "uptime_percent": {"okx": 99.2, "binance": 100.0}}  # fmt: skip
    day = messages.daily_summary("2025-11-27", facts, AT)
    assert day.text == (
        "signals 412, episodes closed 57\npaper P&L +12.5000 USDT (9 trades)\n"
        "feeds up binance 100.0 %, okx 99.2 %"
    )
    assert messages.duration(7530) == "2 h 5 min"
