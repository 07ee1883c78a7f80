"""A simulated OpenAI-compatible endpoint (always labelled a simulator, never a model): speaks
chat completions as vLLM does, plays R1V4-style trajectories, injects faults. For the demo,
tests and benchmarks; library code never imports it."""

from r1v4.sim.runner import SimHandle, running_simulator
from r1v4.sim.server import create_app
from r1v4.sim.settings import QUIRKS, SimSettings

__all__ = ["QUIRKS", "SimHandle", "SimSettings", "create_app", "running_simulator"]
