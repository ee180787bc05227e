"""ArBot: streaming crypto-arbitrage market-data daemon."""
