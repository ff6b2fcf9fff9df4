"""Transports: how packets cross the wire (DESIGN §2).

Named by direction of flow (X-Road's clientproxy/serverproxy): ``direct_server`` takes packets
in, ``direct_client`` pushes them out; ``problem`` renders and reads RFC 9457 problem+json.
"""

from __future__ import annotations

from docnode.transport.problem import PROBLEM_CONTENT_TYPE, Problem, problem_for, problem_response

__all__ = ["PROBLEM_CONTENT_TYPE", "Problem", "problem_for", "problem_response"]
