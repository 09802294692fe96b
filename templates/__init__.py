"""The built-in site, feed and digest templates.

A package only so that they ship inside aggregator (as ``aggregator.templates``, read with
``importlib.resources``); their source stays at the top of the repository.
"""
