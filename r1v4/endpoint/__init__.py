"""The OpenAI-compatible endpoint: one client for chat completions, and what it rests on.

- ``client``: ``ChatClient``, the request loop (retries, replica failover);
- ``transport``: the HTTP session, headers, key redaction, failures as ``EndpointError``;
- ``read``, ``sse``, ``folding``: a 200 response (JSON or SSE) read into one ``Completion``
  in the text protocol;
- ``errors``: ``EndpointError`` and how real servers' error bodies are classified;
- ``retry``, ``concurrency``, ``replicas``: what is retried and when, how many requests are
  in flight, which replica takes the next one;
- ``check``: the pre-batch probe of every replica; ``probe``: the fuller probe behind
  ``python -m r1v4 check``;
- ``types``: ``EndpointSettings`` and ``Completion``.

Modules in this package import each other by module, never through this file.
"""

from r1v4.endpoint.client import ChatClient
from r1v4.endpoint.errors import EndpointError
from r1v4.endpoint.types import Completion, EndpointSettings

__all__ = ["ChatClient", "Completion", "EndpointError", "EndpointSettings"]
