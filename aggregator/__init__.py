"""aggregator: poll many outlets' feeds, group their articles into stories, publish them."""

__version__ = "0.1.0"
USER_AGENT = f"aggregator/{__version__} (+https://github.com/aggregator-news/aggregator; self-hosted news aggregator)"
