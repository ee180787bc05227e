"""Every configuration error names the file and the key path, and nothing else escapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbot.errors import ConfigError
from arbot.settings import load_settings

EXCHANGE = '[[exchanges]]\nid = "binance"\nsymbols = ["BTC/USDT"]\n'


def load_error(tmp_path: Path, toml: str) -> str:
    path = tmp_path / "arbot.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("colour = 1\n", "colour"),
        ("[storage]\nbatchsize = 10\n", "storage.batchsize"),
        (EXCHANGE + "taker = 0.1\n", "exchanges[0].taker"),
        (EXCHANGE + EXCHANGE.replace("binance", "okx") + "fee = 1\n", "exchanges[1].fee"),
        ("[detector]\nmin_profit = 1\n", "detector.min_profit"),
        ("[metrics]\nport = 9000\n", "metrics.port"),
        ("[logging]\nfile = 'x'\n", "logging.file"),
        ("[retention]\nticks_days = 1\n", "retention.ticks_days"),
        ("[backup]\npath = '/x'\n", "backup.path"),
        ("[paper]\nbalance = 1\n", "paper.balance"),
        ("[service]\ngrace = 1\n", "service.grace"),
        # Removed settings: nothing would read them, so naming them is an error.
        ("[postgresql]\npool_size = 4\n", "postgresql.pool_size"),
        ("[storage]\nreader_pool_size = 4\n", "storage.reader_pool_size"),
    ],
)
def test_unknown_keys_are_rejected_at_every_level(tmp_path: Path, toml: str, key: str) -> None:
    assert load_error(tmp_path, toml) == f"{key}: unknown key"


@pytest.mark.parametrize(
    ("toml", "key", "got"),
    [
        ("[storage]\nbatch_size = 'many'\n", "storage.batch_size", "'many'"),
        ("[storage]\nbatch_size = 2.5\n", "storage.batch_size", "2.5"),
        ("[storage]\ndata_dir = 5\n", "storage.data_dir", "5"),
        ("[detector]\ncooldown = [1]\n", "detector.cooldown", "[1]"),
        ("[detector]\nenabled = 'maybe'\n", "detector.enabled", "'maybe'"),
        (EXCHANGE.replace('["BTC/USDT"]', '"BTC/USDT"'), "exchanges[0].symbols", "'BTC/USDT'"),
        (EXCHANGE.replace('["BTC/USDT"]', '["BTC/USDT", 5]'), "exchanges[0].symbols[1]", "5"),
        (EXCHANGE + "ccxt_options = 5\n", "exchanges[0].ccxt_options", "5"),
        ("[paper.balances.binance]\nUSDT = 'lots'\n", "paper.balances.binance.USDT", "'lots'"),
        ("[detector]\nquote_groups = [['USDT', 1]]\n", "detector.quote_groups[0][1]", "1"),
    ],
)
def test_wrong_types_name_the_key_and_the_value(
    tmp_path: Path, toml: str, key: str, got: str
) -> None:
    message = load_error(tmp_path, toml)
    assert message.startswith(f"{key}: "), message
    assert message.endswith(f"(got {got})"), message


@pytest.mark.parametrize(
    ("toml", "key", "why"),
    [
        (EXCHANGE + "maker_fee = 1.0\n", "exchanges[0].maker_fee", "less than 1"),
        (EXCHANGE + "taker_fee = 1.5\n", "exchanges[0].taker_fee", "less than 1"),
        (EXCHANGE + "taker_fee = -0.001\n", "exchanges[0].taker_fee", "greater than or equal"),
        (EXCHANGE + "min_trade_amount = -1\n", "exchanges[0].min_trade_amount", "greater than"),
        (EXCHANGE + "max_trade_amount = -5.0\n", "exchanges[0].max_trade_amount", "greater than"),
        (EXCHANGE + "poll_interval = 0\n", "exchanges[0].poll_interval", "greater than 0"),
        ("[paper.balances.okx]\nBTC = -0.5\n", "paper.balances.okx.BTC", "greater than or equal"),
        ("[storage]\nbatch_size = 0\n", "storage.batch_size", "greater than or equal to 1"),
        ("[storage]\nqueue_size = 100000000\n", "storage.queue_size", "less than or equal"),
        ("[retention]\nrun_at = '24:00'\n", "retention.run_at", "pattern"),
        ("[metrics]\nlisten = 'localhost'\n", "metrics.listen", "pattern"),
    ],
)
def test_out_of_range_values_name_the_key(tmp_path: Path, toml: str, key: str, why: str) -> None:
    message = load_error(tmp_path, toml)
    assert message.startswith(f"{key}: "), message
    assert why in message


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        (EXCHANGE + "mode = 'fast'\n", "exchanges[0].mode"),
        ("[logging]\nlevel = 'verbose'\n", "logging.level"),
        ("[logging]\nformat = 'xml'\n", "logging.format"),
    ],
)
def test_bad_enum_values_list_the_choices(tmp_path: Path, toml: str, key: str) -> None:
    message = load_error(tmp_path, toml)
    assert message.startswith(f"{key}: Input should be "), message
    assert "'" in message.split("Input should be", 1)[1]


def test_a_non_unified_symbol_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, EXCHANGE.replace("BTC/USDT", "BTCUSDT"))
    assert message.startswith("exchanges[0].symbols: symbol 'BTCUSDT' is not a unified")


def test_a_symbol_listed_twice_is_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, EXCHANGE.replace('["BTC/USDT"]', '["BTC/USDT", "BTC/USDT"]'))
    assert message.startswith("exchanges[0].symbols: symbols are listed twice")


def test_duplicate_exchange_names_are_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, EXCHANGE + EXCHANGE)
    assert message.startswith("exchanges: exchange name 'binance' is used twice")


def test_two_instances_of_one_exchange_need_distinct_names(tmp_path: Path) -> None:
    path = tmp_path / "arbot.toml"
    path.write_text(EXCHANGE + EXCHANGE + 'name = "binance-2"\n', encoding="utf-8")
    assert [e.name for e in load_settings(path).exchanges] == ["binance", "binance-2"]


def test_min_trade_amount_above_max_is_rejected(tmp_path: Path) -> None:
    toml = EXCHANGE + "min_trade_amount = 500.0\nmax_trade_amount = 100.0\n"
    message = load_error(tmp_path, toml)
    assert message == "exchanges[0]: min_trade_amount must not exceed max_trade_amount"


def test_required_exchange_keys(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[[exchanges]]\nmode = 'ws'\n")
    assert message.splitlines() == [
        "exchanges[0].id: required key is missing",
        f"{tmp_path / 'arbot.toml'}: exchanges[0].symbols: required key is missing",
    ]


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    """Several mistakes: one line each, each with the file and key."""
    path = tmp_path / "arbot.toml"
    path.write_text("[storage]\nbatch_size = 0\nlinger = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).splitlines() == [
        f"{path}: storage.batch_size: Input should be greater than or equal to 1 (got 0)",
        f"{path}: storage.linger: unknown key",
    ]


def test_toml_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[storage]\nbatch_size = = 5\n")
    assert message.startswith("not valid TOML: ")
    assert "line 2" in message


def test_a_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "arbot.toml"
    path.write_bytes(b"[storage]\ndata_dir = '\xff'\n")
    with pytest.raises(ConfigError, match=rf"^{path}: not valid TOML"):
        load_settings(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match=rf"^{path}: cannot read config file: No such file"):
        load_settings(path)


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: cannot read config file"):
        load_settings(tmp_path)


@pytest.mark.parametrize(
    ("toml", "key", "why"),
    [
        ("[detector]\nsizes = [1000.0, 0]\n", "detector.sizes[1]", "greater than 0"),
        ("[detector]\nsizes = [-5.0]\n", "detector.sizes[0]", "greater than 0"),
        ("[detector]\nmin_profit_quote = -1\n", "detector.min_profit_quote", "greater than or"),
    ],
)
def test_detector_sizes_and_min_profit_quote_are_checked(
    tmp_path: Path, toml: str, key: str, why: str
) -> None:
    message = load_error(tmp_path, toml)
    assert message.startswith(f"{key}: "), message
    assert why in message


def test_detector_sizes_are_quote_notionals(tmp_path: Path) -> None:
    path = tmp_path / "arbot.toml"
    path.write_text("[detector]\nsizes = [1000, 2500.5]\nmin_profit_quote = 2\n", "utf-8")
    detector = load_settings(path).detector
    assert (detector.sizes, detector.min_profit_quote) == ((1000.0, 2500.5), 2.0)
